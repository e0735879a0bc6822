#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "edgeway/core/bounded_queue.h"
#include "edgeway/stream/analytics.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::stream {

// Receives what the shards produce. Called concurrently from every shard thread.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  // `readings` were analysed (in arrival order per key); `insights` are what they raised.
  virtual void OnResults(std::vector<Reading> readings, std::vector<Insight> insights) = 0;
};

struct EngineOptions {
  AnalyticsOptions analytics;
  size_t shards = 2;
  size_t queue_capacity = 65536;  // readings per shard queue
  OverflowPolicy overflow = OverflowPolicy::kBlock;
  size_t batch = 512;  // readings a shard takes from its queue at a time
};

// Routes readings by a hash of (device, sensor) to worker shards. Each shard owns its keys'
// state outright (no lock on the analytics), and takes readings from its own bounded queue.
// Submit is thread-safe.
class ShardedEngine {
 public:
  ShardedEngine(EngineOptions options, ResultSink* sink);
  ~ShardedEngine();

  // Queues `reading` for its shard. With OverflowPolicy::kDrop returns false when the shard's
  // queue is full (the caller counts it); with kBlock waits for room. False after Stop().
  bool Submit(Reading reading);

  // Processes everything queued, then stops the shard threads. Idempotent.
  void Stop();

  uint64_t processed() const;
  uint64_t anomalies() const;
  size_t queued() const;
  size_t keys() const;

 private:
  struct Shard {
    explicit Shard(const EngineOptions& o) : queue(o.queue_capacity), analytics(o.analytics) {}
    BoundedQueue<Reading> queue;
    KeyedAnalytics analytics;
    std::thread thread;
    std::atomic<uint64_t> processed{0};
    std::atomic<uint64_t> anomalies{0};
    std::atomic<size_t> keys{0};
  };
  void Run(Shard* shard);

  EngineOptions options_;
  ResultSink* sink_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<bool> stopped_{false};
};

}  // namespace edgeway::stream
