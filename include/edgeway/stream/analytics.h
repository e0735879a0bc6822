#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "edgeway/stream/detector.h"
#include "edgeway/stream/window.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::stream {

enum class DetectorKind {
  kSigma,     // the seed's rule: |x - mean| > sigma * stddev of the window
  kEnsemble,  // AnomalyDetector: anomaly likelihood >= anomaly_threshold
};

struct AnalyticsOptions {
  DetectorKind detector = DetectorKind::kSigma;
  double anomaly_threshold = 0.5;  // ensemble score for an anomaly (0.5: tail below 1e-15)
  size_t window = 50;            // readings per key in the sliding window
  double sigma = 3.0;            // anomaly when |x - mean| > sigma * stddev of the window before x
  size_t min_samples = 10;       // no anomaly verdicts before this many readings of the key
  size_t trend_window = 5;       // the seed's trend rule looks at the last 5 readings
  double trend_threshold = 0.1;  // second half's mean beyond +-10% of the first half's
  double holt_alpha = 0.5;       // Holt's linear method: level smoothing
  double holt_beta = 0.3;        // and trend smoothing
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

 private:
  double alpha_, beta_;
  double level_ = 0, trend_ = 0;
  uint64_t count_ = 0;
};

// The seed's trend rule on the last `n` values (newest first in the window): compares the mean
// of the older half with the mean of the newer half (the middle value goes to the newer half, as
// the seed's values[len//2:]). Relative to |older mean| so that negative series work too.
Trend TrendOf(const CountWindow& window, size_t n, double threshold);

// What the analytics made of one reading.
struct Verdict {
  bool anomaly = false;
  double z = 0;     // (x - mean) / stddev of the window before x; 0 before min_samples
  double mean = 0;  // of the window before x
  double stddev = 0;
  double forecast = 0;  // Holt's forecast of x made before x arrived (x itself for the first)
  Trend trend = Trend::kStable;
  double score = 0;     // the ensemble's anomaly score in [0, 1]; 0 with the sigma detector
  // The seed's aggregation processor, over the window including x.
  size_t count = 0;
  double min = 0;
  double max = 0;
};

// The verdict as an anomaly score in [0, 1]: the two-sided Gaussian probability mass within |z|
// (0.9973 at 3 sigma), 0 before min_samples. This is NAB's "windowed Gaussian" detector.
double AnomalyScore(const Verdict& verdict);

// Analytics state for every (device, sensor) key that one shard owns: the sliding window, the
// trend rule and the forecaster. Each reading is judged once, against the readings of its own
// key that came before it, so an anomaly is reported once (the seed judged the last ten readings
// of one window shared by all sensors, ten times over). Not thread-safe: one per shard.
class KeyedAnalytics {
 public:
  explicit KeyedAnalytics(AnalyticsOptions options) : options_(options) {}

  // Judges `reading`, updates its key's state, and appends to `insights` an anomaly insight, or
  // a trend insight when the key's trend changes to rising or falling.
  Verdict Process(const Reading& reading, std::vector<Insight>* insights);

  size_t keys() const { return keys_.size(); }
  // Rough bytes of state per key, for capacity planning.
  size_t bytes_per_key() const;

 private:
  struct KeyState {
    explicit KeyState(const AnalyticsOptions& o)
        : window(o.window), holt(o.holt_alpha, o.holt_beta) {
      if (o.detector == DetectorKind::kEnsemble) ensemble = std::make_unique<AnomalyDetector>();
    }
    CountWindow window;
    HoltForecaster holt;
    std::unique_ptr<AnomalyDetector> ensemble;  // only with DetectorKind::kEnsemble
    Trend reported_trend = Trend::kStable;
  };

  AnalyticsOptions options_;
  absl::flat_hash_map<std::string, KeyState> keys_;
  std::string key_buffer_;
};

}  // namespace edgeway::stream
