#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::stream {

enum class WindowKind {
  kTumbling,  // [k * size, (k + 1) * size): each reading in exactly one window
  kSliding,   // windows of `size` starting every `slide`: each reading in size / slide windows
  kSession,   // readings closer than `gap` to each other, from the first to the last plus gap,
              // cut at every multiple of `max_duration` (if set)
};
const char* WindowKindName(WindowKind kind);

// One declared event-time window (the `windows:` list of edgeway.yaml).
//
// Time is the readings' event time. Each (device, sensor) key has its own watermark: the newest
// event time seen for the key minus `watermark_delay_ns`, the disorder the source is allowed.
// A window closes, and its result is emitted, when the watermark reaches its end. It is kept
// `allowed_lateness_ns` longer: a reading that still falls in it updates the result (emitted
// again with the next revision). A reading whose windows are all gone is a LateReading, the side
// output, and counted; it is never silently dropped. Windows are aligned to the Unix epoch.
//
// A key that falls silent would hold its last windows open for ever. Once no reading of it has
// arrived for `idle_timeout_ns` of the gateway's clock (Reading::received_ns), its open windows
// are closed and their results emitted. Its watermark stays where its readings put it: a device
// that was offline and sends its backlog later (its readings in event-time order) is on time,
// its windows are filled, and a window closed for the silence that the backlog reaches is
// emitted again, as a revision, once the watermark closes it. The silence counts from the
// engine's start at the earliest.
struct WindowSpec {
  std::string name;
  WindowKind kind = WindowKind::kTumbling;
  int64_t size_ns = 0;   // tumbling and sliding
  int64_t slide_ns = 0;  // sliding; size_ns must be a multiple of it
  int64_t gap_ns = 0;    // session
  // Session: no session spans a multiple of this (aligned to the epoch, as Azure Stream
  // Analytics' maximum duration): a key that never pauses for `gap` still gets a result at each
  // one, and holds at most this much of its readings. 0: unbounded.
  int64_t max_duration_ns = 0;
  int64_t watermark_delay_ns = 0;
  int64_t allowed_lateness_ns = 0;
  int64_t idle_timeout_ns = 0;                     // 0: a silent key's windows stay open
  std::vector<std::string> sensors;                // empty: every sensor
  std::vector<double> percentiles = {50, 90, 99};  // in [0, 100]; none: no values are kept

  bool Applies(std::string_view sensor) const;
  // The earliest event time that a window of a key whose newest reading is at `newest_ns` can
  // hold and still change (not gone): what a restart reads back to rebuild the key's windows.
  // For a session without a max duration, its last gap: its start is not known.
  int64_t OldestNotGone(int64_t newest_ns) const;
};

// The percentile `p` in [0, 100] of `values` (not empty), interpolating linearly between order
// statistics as numpy.percentile does by default. Reorders `values`: a selection, not a sort.
// With `from`, the values before *from are known to be no greater than those from it on (as an
// earlier call with a lower percentile leaves them), and only those are searched; *from is then
// where this selection left its order statistic, for the next higher percentile.
double Percentile(std::vector<double>* values, double p, size_t* from = nullptr);

// The count, mean, spread and range of some values, kept without the values: Welford's update
// for one more, and Chan et al.'s for merging two sets.
struct Moments {
  uint64_t count = 0;
  double mean = 0;
  double m2 = 0;  // the sum of squared deviations from the mean
  double min = INFINITY, max = -INFINITY;

  void Add(double x);
  void Merge(const Moments& other);
};

// The windows of one spec for one key. Tumbling and sliding windows keep the moments of each
// slice of width `slide` (`size` when tumbling), and its values for the percentiles: a window is
// the size / slide slices it spans, gathered when it is emitted. So a reading costs the same
// whatever the overlap, and the memory is that of the values in one window's span, not size /
// slide times it; without percentiles, it is that of the slices alone, whatever the rate of
// readings. Sessions keep their moments and values per session.
//
// A late reading (within the allowed lateness) marks the closed windows it falls in for
// revision, and Revise() emits each of them again once, however many late readings it took: a
// device sending an hour of backlog does not rewrite every window it touches once per reading.
// Not thread-safe.
class KeyWindows {
 public:
  explicit KeyWindows(const WindowSpec* spec) : spec_(spec) {}

  // Adds a reading of this key: appends to `results` every window it closes, and to `late` the
  // reading itself when all its windows are gone.
  void Add(const Reading& reading, std::vector<WindowResult>* results,
           std::vector<LateReading>* late);
  // Appends to `results` every closed window that late readings changed since the last call.
  void Revise(std::vector<WindowResult>* results);
  // At `now_ns` on the gateway's clock, with the engine started at `since_ns`: closes the open
  // windows of a key silent for the spec's idle timeout (see WindowSpec), appending them to
  // `results`.
  void Idle(int64_t now_ns, int64_t since_ns, std::vector<WindowResult>* results);
  // Whether a late reading changed a closed window since the last Revise (or Flush).
  bool revising() const { return revising_; }
  // End of input: revises and closes every window still open, as if the watermark had reached
  // the end of time. The key stays usable.
  void Flush(std::vector<WindowResult>* results);

  int64_t watermark() const { return watermark_; }
  // Windows holding a value that are not gone yet.
  size_t open_windows() const;
  size_t buffered_values() const;

 private:
  struct Slice {
    int64_t start;
    Moments moments;
    std::vector<double> values;  // only for percentiles
  };
  struct Session {
    int64_t start, end;
    Moments moments;
    std::vector<double> values;  // only for percentiles
    uint32_t emitted = 0;        // times its result was emitted
    uint64_t emitted_count = 0;  // its count when it was last emitted
    bool changed = false;        // closed, and changed by a late reading since last emitted
  };
  // An aligned window that was emitted and is not gone yet (closed by the watermark, or by the
  // key's idle timeout): its count when last emitted, the times it was emitted, and whether a late
  // reading changed it since the watermark closed it. 24 bytes: a silent key's hour sliding every
  // 10 s keeps 360 of them.
  struct Closed {
    int64_t start;
    uint64_t emitted_count = 0;
    uint32_t emitted = 0;
    bool changed = false;
  };
  int64_t slide() const;
  // Moves the watermark to `watermark` if that is later: closes the windows that end by it, and
  // lets go of the gone.
  void AdvanceWatermark(int64_t watermark, std::vector<WindowResult>* results);
  // The start of the first aligned window that ends after `t`.
  int64_t FirstEndingAfter(int64_t t) const;
  // The first aligned window start that is not gone (INT64_MIN before the first watermark).
  int64_t FirstNotGone() const;
  // The first aligned window at or after `start` that holds a value (INT64_MAX if none); its first
  // slice is slices_[*slice] (moved forward to it).
  int64_t NextAligned(int64_t start, size_t* slice) const;
  // Add `value` at event time `t`, unless all its windows are gone (then false); mark the closed
  // windows it changes.
  bool AddAligned(int64_t t, double value);
  bool AddSession(int64_t t, double value);
  // The closed window starting at `start`, added if it is not there yet, looking from `from` on
  // (no later than it in closed_).
  std::vector<Closed>::iterator ClosedAt(int64_t start, std::vector<Closed>::iterator from);
  // Emits the aligned windows that hold a value and start in [first, last], in order.
  void EmitAligned(int64_t first, int64_t last, std::vector<WindowResult>* results);
  // Emits the aligned window `closed` (again), or `session`; not again while no reading came into
  // it since it was last emitted.
  void EmitClosed(Closed* closed, std::vector<WindowResult>* results);
  void EmitSession(Session* session, std::vector<WindowResult>* results);
  // Emits the windows the watermark has not closed that hold a reading not emitted yet.
  void EmitOpen(std::vector<WindowResult>* results);
  // The result of the window [start, end) with `moments`, and `values` for the percentiles, which
  // it reorders.
  void Emit(int64_t start, int64_t end, uint32_t revision, const Moments& moments,
            std::vector<double>* values, std::vector<WindowResult>* results);
  bool keeps_values() const { return !spec_->percentiles.empty(); }
  bool Gone(int64_t end) const;

  const WindowSpec* spec_;
  std::string device_id_, sensor_;
  int64_t watermark_ = INT64_MIN;
  int64_t newest_ = INT64_MIN;     // event time of the newest reading taken
  int64_t last_received_ns_ = 0;   // when the last reading arrived (0: not known)
  bool idle_ = false;              // its open windows were closed for its silence
  std::vector<Slice> slices_;      // tumbling and sliding, by start
  std::vector<Closed> closed_;     // tumbling and sliding, by start
  std::vector<Session> sessions_;  // by start; they never overlap
  std::vector<double> values_;     // the window being emitted, for its percentiles
  bool revising_ = false;
};

// The event-time windows of every key one shard owns, for every declared spec.
class KeyedWindows {
 public:
  explicit KeyedWindows(std::vector<WindowSpec> specs) : specs_(std::move(specs)) {}

  void Process(const Reading& reading, std::vector<WindowResult>* results,
               std::vector<LateReading>* late);
  // The closed windows that late readings changed since the last call, once each: at the end of
  // a batch of readings.
  void Revise(std::vector<WindowResult>* results);
  // KeyWindows::Idle for every key.
  void Idle(int64_t now_ns, int64_t since_ns, std::vector<WindowResult>* results);
  // Drops the (device, sensor) `keys` (those KeyedAnalytics::Forget dropped), after closing their
  // open windows into `results`.
  void Forget(std::span<const std::pair<std::string, std::string>> keys,
              std::vector<WindowResult>* results);
  void Flush(std::vector<WindowResult>* results);

  bool empty() const { return specs_.empty(); }
  size_t open_windows() const;

 private:
  std::vector<WindowSpec> specs_;
  // Node-based: revising_ points into the values.
  absl::node_hash_map<std::string, std::vector<KeyWindows>> keys_;
  std::vector<KeyWindows*> revising_;
  std::string key_buffer_;  // for KeyOf
};

}  // namespace edgeway::stream
