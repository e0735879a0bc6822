#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::stream {

enum class WindowKind {
  kTumbling,  // [k * size, (k + 1) * size): each reading in exactly one window
  kSliding,   // windows of `size` starting every `slide`: each reading in size / slide windows
  kSession,   // readings closer than `gap` to each other, from the first to the last plus gap
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
struct WindowSpec {
  std::string name;
  WindowKind kind = WindowKind::kTumbling;
  int64_t size_ns = 0;   // tumbling and sliding
  int64_t slide_ns = 0;  // sliding; size_ns must be a multiple of it
  int64_t gap_ns = 0;    // session
  int64_t watermark_delay_ns = 0;
  int64_t allowed_lateness_ns = 0;
  std::vector<std::string> sensors;                // empty: every sensor
  std::vector<double> percentiles = {50, 90, 99};  // in [0, 100]

  bool Applies(std::string_view sensor) const;
};

// The percentile `p` in [0, 100] of `sorted` (ascending, not empty), interpolating linearly
// between order statistics as numpy.percentile does by default.
double Percentile(const std::vector<double>& sorted, double p);

// The windows of one spec for one key. Not thread-safe.
class KeyWindows {
 public:
  explicit KeyWindows(const WindowSpec* spec) : spec_(spec) {}

  // Adds a reading of this key: appends to `results` every window it closes or updates, and to
  // `late` the reading itself when all its windows are gone.
  void Add(const Reading& reading, std::vector<WindowResult>* results,
           std::vector<LateReading>* late);
  // End of input: closes every window still open, as if the watermark had reached the end of
  // time. The key stays usable.
  void Flush(std::vector<WindowResult>* results);

  int64_t watermark() const { return watermark_; }
  size_t open_windows() const { return panes_.size(); }
  size_t buffered_values() const;

 private:
  struct Pane {
    int64_t start, end;
    std::vector<double> values;
    bool fired = false;
    uint32_t revision = 0;
  };
  // Adds `value` at event time `t` to the windows that are not gone; false when all are gone.
  bool AssignAligned(int64_t t, double value, std::vector<Pane*>* touched);
  bool AssignSession(int64_t t, double value, std::vector<Pane*>* touched);
  void Emit(Pane* pane, std::vector<WindowResult>* results);
  bool Gone(int64_t end) const;

  const WindowSpec* spec_;
  std::string device_id_, sensor_;
  int64_t watermark_ = INT64_MIN;
  std::vector<Pane> panes_;  // by start; sessions never overlap
};

// The event-time windows of every key one shard owns, for every declared spec.
class KeyedWindows {
 public:
  explicit KeyedWindows(std::vector<WindowSpec> specs) : specs_(std::move(specs)) {}

  void Process(const Reading& reading, std::vector<WindowResult>* results,
               std::vector<LateReading>* late);
  void Flush(std::vector<WindowResult>* results);

  bool empty() const { return specs_.empty(); }
  size_t open_windows() const;

 private:
  std::vector<WindowSpec> specs_;
  absl::flat_hash_map<std::string, std::vector<KeyWindows>> keys_;
  std::string key_buffer_;
};

}  // namespace edgeway::stream
