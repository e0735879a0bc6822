#include "edgeway/stream/engine.h"

#include <functional>
#include <string_view>

namespace edgeway::stream {

ShardedEngine::ShardedEngine(EngineOptions options, ResultSink* sink, const Source<Reading>& replay,
                             const Source<SavedKeyState>& saved)
    : options_(options), sink_(sink), started_ns_(options.clock->NowNs()) {
  if (options_.shards == 0) options_.shards = 1;
  options_.analytics.skip_duplicates = true;  // MQTT delivers at least once
  for (size_t i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(options_));
  }
  if (saved) {
    saved([&](const SavedKeyState& key) {
      restored_ += ShardOf(key.device_id).analytics.Restore(key);
    });
  }
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
  if (replay) {
    replay([&](const Reading& r) {
      Shard& shard = ShardOf(r.device_id);
      shard.analytics.Remember(r);
      shard.windows.Process(r, &results, &late);
      results.clear();
      late.clear();
    });
  }
  for (auto& shard : shards_) {
    shard->windows.Revise(&results);
    shard->keys.store(shard->analytics.keys(), std::memory_order_relaxed);  // restored, replayed
  }
  for (auto& shard : shards_) {
    Shard* s = shard.get();
    s->thread = std::thread([this, s] { Run(s); });
  }
}

ShardedEngine::~ShardedEngine() { Stop(); }

ShardedEngine::Shard& ShardedEngine::ShardOf(std::string_view device_id) {
  return *shards_[std::hash<std::string_view>()(device_id) % shards_.size()];
}

bool ShardedEngine::Submit(Reading reading) {
  Shard& shard = ShardOf(reading.device_id);
  return shard.queue.Push(std::move(reading), options_.overflow);
}

namespace {

// While a snapshot goes on, a shard saves about this many bytes of key state with a batch, at
// most once per this interval: 2.5 MB/s per shard, a trickle beside the readings (30,000 keys
// with the ensemble, 90 MB, take 18 s with two shards), that neither queues up in memory nor
// holds the store's writer up for long, and is kind to an SD card.
constexpr size_t kSnapshotChunkBytes = 256 * 1024;
constexpr int64_t kSnapshotChunkInterval = 100 * kNsPerMs;

// How often a shard looks for keys whose windows are idle, and for keys to forget: a pass over
// its keys, 0.6 ms for 30,000 with a window each (BM_Housekeeping).
constexpr int64_t kHousekeepingInterval = kNsPerSecond;

}  // namespace

void ShardedEngine::Run(Shard* shard) {
  ResultBatch out;
  out.readings.reserve(options_.batch);
  const int64_t save_every = options_.save_interval_ns;
  int64_t next_save = save_every > 0 ? MonotonicNs() + save_every : 0;
  int64_t next_chunk = 0;
  int64_t next_housekeeping = MonotonicNs() + kHousekeepingInterval;
  while (true) {
    if (!shard->queue.PopBatch(&out.readings, options_.batch, std::chrono::milliseconds(100))) {
      break;
    }
    uint64_t anomalies = 0, stuck = 0;
    for (const Reading& r : out.readings) {
      const Verdict v = shard->analytics.Process(r, &out.insights);
      if (v.duplicate) continue;  // the store too keeps it once
      anomalies += v.anomaly;
      stuck += v.stuck;
      shard->windows.Process(r, &out.windows, &out.late);
    }
    if (!out.readings.empty()) {
      shard->windows.Revise(&out.windows);  // once per window, however many late readings
      shard->processed.fetch_add(out.readings.size(), std::memory_order_relaxed);
      shard->anomalies.fetch_add(anomalies, std::memory_order_relaxed);
      shard->stuck.fetch_add(stuck, std::memory_order_relaxed);
      shard->late.fetch_add(out.late.size(), std::memory_order_relaxed);
      shard->keys.store(shard->analytics.keys(), std::memory_order_relaxed);
    }
    const int64_t now = MonotonicNs();
    if (now >= next_housekeeping) {
      // Windows of keys gone silent move on; keys silent for too long are forgotten.
      const int64_t wall = options_.clock->NowNs();
      if (!shard->windows.empty()) shard->windows.Idle(wall, started_ns_, &out.windows);
      if (options_.forget_after_ns > 0) {
        const int64_t cutoff = wall - options_.forget_after_ns;
        out.forgotten = shard->analytics.Forget(cutoff, started_ns_);
        shard->windows.Forget(out.forgotten, &out.windows);
        shard->forgotten.fetch_add(out.forgotten.size(), std::memory_order_relaxed);
        shard->keys.store(shard->analytics.keys(), std::memory_order_relaxed);
      }
      next_housekeeping = now + kHousekeepingInterval;
    }
    if (next_save > 0 && now >= next_save && shard->analytics.StartSnapshot()) {
      next_save = now + save_every;
    }
    if (next_save > 0 && now >= next_chunk) {
      // With this batch's results, so that the store has both or neither.
      out.analytics_state = shard->analytics.NextSnapshotChunk(kSnapshotChunkBytes);
      if (!out.analytics_state.empty()) next_chunk = now + kSnapshotChunkInterval;
    }
    if (out.empty()) continue;
    sink_->OnResults(std::move(out));
    out = ResultBatch();
    out.readings.reserve(options_.batch);
  }
}

void ShardedEngine::Stop() {
  if (stopped_.exchange(true)) return;
  for (auto& shard : shards_) shard->queue.Close();
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
  }
}

std::vector<SavedKeyState> ShardedEngine::SaveAnalytics(size_t max_bytes) {
  for (; saving_shard_ < shards_.size(); ++saving_shard_, saving_started_ = false) {
    KeyedAnalytics& analytics = shards_[saving_shard_]->analytics;
    if (!saving_started_) saving_started_ = analytics.StartSnapshot(/*every_key=*/true);
    std::vector<SavedKeyState> chunk = analytics.NextSnapshotChunk(max_bytes);
    if (!chunk.empty()) return chunk;
  }
  return {};
}

uint64_t ShardedEngine::Sum(std::atomic<uint64_t> Shard::*counter) const {
  uint64_t n = 0;
  for (const auto& s : shards_) n += ((*s).*counter).load(std::memory_order_relaxed);
  return n;
}
uint64_t ShardedEngine::processed() const { return Sum(&Shard::processed); }
uint64_t ShardedEngine::anomalies() const { return Sum(&Shard::anomalies); }
uint64_t ShardedEngine::stuck_sensors() const { return Sum(&Shard::stuck); }
uint64_t ShardedEngine::late_readings() const { return Sum(&Shard::late); }
uint64_t ShardedEngine::keys_forgotten() const { return Sum(&Shard::forgotten); }
size_t ShardedEngine::queued() const {
  size_t n = 0;
  for (const auto& s : shards_) n += s->queue.size();
  return n;
}
size_t ShardedEngine::keys() const {
  size_t n = 0;
  for (const auto& s : shards_) n += s->keys.load(std::memory_order_relaxed);
  return n;
}

}  // namespace edgeway::stream
