#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "edgeway/stream/detector.h"
#include "edgeway/stream/state.h"
#include "edgeway/stream/window.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::stream {

enum class DetectorKind {
  kSigma,     // the seed's rule: |x - mean| > sigma * stddev of the window
  kEnsemble,  // AnomalyDetector: anomaly likelihood >= anomaly_threshold
};

struct AnalyticsOptions {
  DetectorKind detector = DetectorKind::kSigma;
  // Ensemble score for an anomaly (0.5: tail below 1e-15). The ensemble reports each event once
  // its score reaches this (DetectorOptions::report_at); 0 reports every event's scores as they
  // double from its first, as a threshold sweep needs them (edgeway detect, edgeway nab).
  double anomaly_threshold = 0.5;
  // Readings of a key the ensemble learns from before its first score.
  size_t ensemble_warmup = DetectorOptions{}.warmup;
  size_t window = 50;            // readings per key in the sliding window
  double sigma = 3.0;            // anomaly when |x - mean| > sigma * stddev of the window before x
  size_t min_samples = 10;       // no anomaly verdicts before this many readings of the key
  size_t trend_window = 5;       // the seed's trend rule looks at the last 5 readings
  double trend_threshold = 0.1;  // second half's mean beyond +-10% of the first half's
  double holt_alpha = 0.5;       // Holt's linear method: level smoothing
  double holt_beta = 0.3;        // and trend smoothing
  // A stuck sensor: one value, exactly, for more than `stuck_factor` times the key's longest run
  // of one value before and at least `stuck_min_run` readings, after as many others (see
  // StuckDetector). 0: off.
  double stuck_factor = 2.0;
  size_t stuck_min_run = 20;
  // A reading with the event time of one of its key's last RecentTimes::kSize readings is a
  // redelivery (MQTT QoS 1 delivers at least once; a device resends what it is unsure arrived)
  // and is not judged again: Verdict::duplicate. The store keeps one reading per device, sensor
  // and event time, so this agrees with it. Off for a series replayed from a file, whose rows are
  // all judged.
  bool skip_duplicates = false;
};

enum class Trend { kStable, kIncreasing, kDecreasing };
const char* TrendName(Trend trend);

// Holt's linear (double exponential) smoothing: a one-step-ahead forecast in O(1).
class HoltForecaster {
 public:
  HoltForecaster(double alpha, double beta) : alpha_(alpha), beta_(beta) {}
  void Update(double value);
  // Forecast of the next value; the last value before two have been seen.
  double Forecast() const { return level_ + trend_; }
  bool ready() const { return count_ >= 2; }
  void Save(StateWriter* out) const;
  bool Restore(StateReader* in);

 private:
  double alpha_, beta_;
  double level_ = 0, trend_ = 0;
  uint64_t count_ = 0;
};

// A sensor stuck at one value: neither a z-score nor the ensemble sees it, since a value the
// series has just read many times is no surprise. A run is the readings in a row with exactly the
// value of the latest one. A run is stuck once it is longer than `factor` times the longest run
// that ended before it, and at least `min_run` readings, and came after at least `min_run`
// readings: a key's normal runs are not known from fewer (a count that reads 0 for its first 20
// readings after 5 others is not stuck). A key that has read one value from its first reading has
// no run before and is never stuck (it may be a constant). A quantised sensor (a temperature in
// whole degrees, a count that is 0 at night) repeats itself by nature, and learns how long from
// its own runs, the stuck ones too once they end: a series whose nature is long runs (a count of
// rare events, a switch) is reported at each new record, not at every run. A sensor stuck with
// noise on the last digit is not seen. O(1).
class StuckDetector {
 public:
  StuckDetector(double factor, size_t min_run) : factor_(factor), min_run_(min_run) {}

  // Adds `value`; true once per run, at the reading that makes it stuck.
  bool Update(double value);

  uint64_t run() const { return run_; }          // readings in the current run
  uint64_t longest() const { return longest_; }  // of the runs before it
  void Save(StateWriter* out) const;
  bool Restore(StateReader* in);

 private:
  double factor_;
  uint64_t min_run_;
  double value_ = 0;
  uint64_t run_ = 0;
  uint64_t longest_ = 0;
  uint64_t before_ = 0;  // readings before the current run
  bool stuck_ = false;   // the current run was found stuck (and reported)
};

// The seed's trend rule on the last `n` values (newest first in the window): compares the mean
// of the older half with the mean of the newer half (the middle value goes to the newer half, as
// the seed's values[len//2:]). Relative to |older mean| so that negative series work too. With
// `n` of 4 or more, a trend must also hold without the value farthest from the mean of the `n`:
// one spike is an anomaly, not a rise as it comes and a fall as it goes.
Trend TrendOf(const CountWindow& window, size_t n, double threshold);

// The event times of a key's latest readings, to recognise one delivered again.
class RecentTimes {
 public:
  // A redelivery follows its original closely: what a client sends again after a dropped
  // connection is what it had in flight (edgeway device keeps at most 8 messages in flight, a
  // reading of each sensor in each), and what a restarted device sends again is what was in
  // flight or acknowledged but not yet deleted from its queue. (Each time costs 8 bytes of every
  // key's state, twice over in the keys' hash table.)
  static constexpr size_t kSize = 16;

  // True if `ts` is one of the last kSize event times added; otherwise adds it. O(1) for a time
  // after every one before (the common case), O(kSize) otherwise.
  bool SeenBefore(int64_t ts);
  void Save(StateWriter* out) const;
  bool Restore(StateReader* in);
  // The layout saved by key state version 1: a ring of 8.
  bool RestoreVersion1(StateReader* in);

 private:
  void Add(int64_t ts);

  std::array<int64_t, kSize> times_{};  // a ring
  int64_t newest_ = INT64_MIN;
  uint8_t next_ = 0, size_ = 0;
};

// What the analytics made of one reading.
struct Verdict {
  bool duplicate = false;  // with skip_duplicates: a redelivery, not judged (nothing else is set)
  bool anomaly = false;
  double z = 0;     // (x - mean) / stddev of the window before x; 0 before min_samples
  double mean = 0;  // of the window before x
  double stddev = 0;
  double forecast = 0;  // Holt's forecast of x made before x arrived (x itself for the first)
  Trend trend = Trend::kStable;
  bool stuck = false;       // this reading made the key's run of one value stuck (a stuck insight)
  double score = 0;         // the ensemble's anomaly score in [0, 1]; 0 with the sigma detector
  size_t period = 0;        // the ensemble's cycle of the key in readings, once found; else 0
  bool fault_code = false;  // the ensemble took x for a fault code read again (its insight says)
  // The seed's aggregation processor, over the window including x.
  size_t count = 0;
  double min = 0;
  double max = 0;
};

// The verdict as an anomaly score in [0, 1]: the two-sided Gaussian probability mass within |z|
// (0.9973 at 3 sigma), 0 before min_samples. This is NAB's "windowed Gaussian" detector.
double AnomalyScore(const Verdict& verdict);

// Other analytics options for the readings of some sensors (analytics.per_sensor in
// edgeway.yaml): a vibration sensor judged by the ensemble, a door counter by the 3-sigma rule.
struct SensorAnalytics {
  std::vector<std::string> sensors;
  AnalyticsOptions options;
};

// Analytics state for every (device, sensor) key that one shard owns: the sliding window, the
// trend rule and the forecaster, with the options of its sensor. Each reading is judged once,
// against the readings of its own key that came before it, so an anomaly is reported once (the seed
// judged the last ten readings of one window shared by all sensors, ten times over). Not
// thread-safe: one per shard.
class KeyedAnalytics {
 public:
  // The readings of a sensor listed in `per_sensor` (in the first entry that lists it) are judged
  // with that entry's options, the others with `options`. skip_duplicates is `options`' for all.
  explicit KeyedAnalytics(AnalyticsOptions options, std::vector<SensorAnalytics> per_sensor = {});

  // Judges `reading`, updates its key's state, and appends to `insights` an anomaly insight, a
  // trend insight when the key's trend changes to rising or falling, and a stuck insight when
  // the key's sensor has read one value for too long.
  Verdict Process(const Reading& reading, std::vector<Insight>* insights);
  // A reading judged before (before a restart): with skip_duplicates, a later delivery of it is
  // a duplicate.
  void Remember(const Reading& reading);

  // Every key's state, to go on from after a restart.
  std::vector<SavedKeyState> Save() const;
  // A snapshot, taken a few keys at a time so that it never holds much more memory than one
  // chunk: StartSnapshot picks the keys that took or remembered a reading since the last snapshot
  // started (all of them the first time), for a start after a crash, unless a snapshot is still
  // going on (false); with `every_key` (a gateway's stop), it picks every key, in place of any
  // snapshot going on. Each NextSnapshotChunk then saves the next of them, as they are at that
  // moment, until their state reaches `max_bytes` (at least one key), and returns none once all
  // are saved.
  bool StartSnapshot(bool every_key = false);
  std::vector<SavedKeyState> NextSnapshotChunk(size_t max_bytes);
  // Restores a key's state saved by Save with the same detector and window for its sensor; false,
  // and nothing changes, for other options or bytes that are not such state.
  bool Restore(const SavedKeyState& saved);

  // Drops the keys whose last reading arrived (Reading::received_ns) before `cutoff_ns`, counting
  // none before `since_ns` (when the engine started: a restored key has not been silent while the
  // gateway was down); returns their (device, sensor). A key that comes back learns afresh.
  std::vector<std::pair<std::string, std::string>> Forget(int64_t cutoff_ns, int64_t since_ns);

  size_t keys() const { return keys_.size(); }
  // Rough bytes of state per key, for capacity planning.
  size_t bytes_per_key() const;

 private:
  struct KeyState {
    explicit KeyState(const AnalyticsOptions& o)
        : options(&o),
          window(o.window),
          holt(o.holt_alpha, o.holt_beta),
          stuck(o.stuck_factor, o.stuck_min_run) {
      if (o.detector == DetectorKind::kEnsemble) {
        ensemble = std::make_unique<AnomalyDetector>(
            DetectorOptions{.warmup = o.ensemble_warmup, .report_at = o.anomaly_threshold});
      }
    }
    const AnalyticsOptions* options;  // into KeyedAnalytics::options_
    CountWindow window;
    HoltForecaster holt;
    StuckDetector stuck;
    RecentTimes recent;
    std::unique_ptr<AnomalyDetector> ensemble;  // only with DetectorKind::kEnsemble
    Trend reported_trend = Trend::kStable;
    bool changed = true;           // since the last StartSnapshot
    int64_t last_received_ns = 0;  // of its newest reading, by the gateway's clock
  };

  SavedKeyState SaveKey(const std::string& key, const KeyState& state) const;

  KeyState& StateOf(const Reading& reading);

  // The options of `sensor`'s readings.
  const AnalyticsOptions& OptionsOf(std::string_view sensor) const;

  // The default options, then one per per_sensor entry (on the heap: keys point at them, and stay
  // valid when this moves); the sensors of each entry.
  std::vector<AnalyticsOptions> options_;
  std::vector<std::vector<std::string>> sensors_;
  absl::flat_hash_map<std::string, KeyState> keys_;
  std::string key_buffer_;             // for KeyOf
  std::vector<std::string> snapshot_;  // map keys the snapshot has still to save
  size_t snapshot_next_ = 0;
};

}  // namespace edgeway::stream
