#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "edgeway/core/bounded_queue.h"
#include "edgeway/core/clock.h"
#include "edgeway/stream/analytics.h"
#include "edgeway/stream/event_window.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::stream {

// Receives what the shards produce. Called concurrently from every shard thread.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  // `results.readings` were analysed (in arrival order per key); the rest is what they raised:
  // insights, window results, late readings.
  virtual void OnResults(ResultBatch results) = 0;
};

struct EngineOptions {
  AnalyticsOptions analytics;
  std::vector<SensorAnalytics> per_sensor;  // other options for some sensors' readings
  std::vector<WindowSpec> windows;          // event-time windows, for every key
  size_t shards = 2;
  size_t queue_capacity = 65536;  // readings per shard queue
  OverflowPolicy overflow = OverflowPolicy::kBlock;
  size_t batch = 512;  // readings a shard takes from its queue at a time
  // Every this often each shard hands the sink the state of its keys that changed since it last
  // did (ResultBatch::analytics_state), a chunk of keys per batch, each with the results of the
  // readings it covers: a start after a crash goes on from there. 0: never (SaveAnalytics after
  // Stop is then the only way).
  int64_t save_interval_ns = 0;
  // Keys (their analytics and windows) that no reading arrived for in this long are dropped,
  // their open windows closed first; 0: never. Bounds the memory of a fleet whose devices come
  // and go.
  int64_t forget_after_ns = 0;
  // The clock readings' received_ns come from: a shard checks it every second for keys whose
  // windows are idle (WindowSpec::idle_timeout_ns), and for keys to forget.
  Clock* clock = Clock::Real();
};

// Routes readings by a hash of the device to worker shards, so that one shard sees all of a
// device's readings in arrival order (what it emits for a device stays in order). Each shard owns
// its keys' state outright (no lock on the analytics), and takes readings from its own bounded
// queue. Readings come at least once (MQTT QoS 1): one with the device, sensor and event time of
// one of its key's latest is a duplicate, left out of the analytics and the windows (the store
// keeps it once too). Submit is thread-safe.
class ShardedEngine {
 public:
  // Gives what it holds, one at a time, to the function it is called with: from the store, read
  // as it is taken (a start's memory need not hold it all at once).
  template <typename T>
  using Source = std::function<void(absl::FunctionRef<void(const T&)>)>;

  // `saved`: the analytics' key states saved by the last run (SaveAnalytics, or its snapshots),
  // restored so that each key goes on where it was (a state saved with other options is left
  // out: that key starts afresh). `replay`: readings stored before a restart, each key's oldest
  // first, fed to the event-time windows (only; the analytics remember their times, to know them
  // if they are delivered again) before the shards start, so that windows open at the restart
  // close with all their readings. What they emit was stored before, and is not emitted again.
  ShardedEngine(EngineOptions options, ResultSink* sink, const Source<Reading>& replay = nullptr,
                const Source<SavedKeyState>& saved = nullptr);
  ~ShardedEngine();

  // Queues `reading` for its shard. With OverflowPolicy::kDrop returns false when the shard's
  // queue is full (the caller counts it); with kBlock waits for room. False after Stop().
  bool Submit(Reading reading);

  // Processes everything queued, then stops the shard threads. Idempotent.
  void Stop();

  // Every key's analytics state, for the next start, a chunk at a time so that the stop never
  // holds all of it at once: each call gives the next keys, until their state reaches
  // `max_bytes` (at least one key), and none once all are given. After Stop().
  std::vector<SavedKeyState> SaveAnalytics(size_t max_bytes);
  // Keys restored from `saved` at construction.
  size_t restored() const { return restored_; }

  uint64_t processed() const;
  uint64_t anomalies() const;
  uint64_t stuck_sensors() const;   // stuck insights (a sensor reading one value for too long)
  uint64_t late_readings() const;   // readings that missed every window they belong to
  uint64_t keys_forgotten() const;  // dropped after EngineOptions::forget_after_ns of silence
  size_t queued() const;
  size_t keys() const;

 private:
  struct Shard {
    explicit Shard(const EngineOptions& o)
        : queue(o.queue_capacity), analytics(o.analytics, o.per_sensor), windows(o.windows) {}
    BoundedQueue<Reading> queue;
    KeyedAnalytics analytics;
    KeyedWindows windows;
    std::thread thread;
    std::atomic<uint64_t> processed{0};
    std::atomic<uint64_t> anomalies{0};
    std::atomic<uint64_t> stuck{0};
    std::atomic<uint64_t> late{0};
    std::atomic<uint64_t> forgotten{0};
    std::atomic<size_t> keys{0};
  };
  void Run(Shard* shard);
  uint64_t Sum(std::atomic<uint64_t> Shard::*counter) const;  // over the shards
  Shard& ShardOf(std::string_view device_id);

  EngineOptions options_;
  ResultSink* sink_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<bool> stopped_{false};
  size_t restored_ = 0;
  int64_t started_ns_ = 0;  // on options_.clock
  // SaveAnalytics' progress: the shard it is at, and whether that shard's snapshot of every key
  // has started.
  size_t saving_shard_ = 0;
  bool saving_started_ = false;
};

}  // namespace edgeway::stream
