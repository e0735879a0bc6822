#include "edgeway/stream/engine.h"

#include <cmath>
#include <map>
#include <mutex>
#include <set>

#include "edgeway/core/clock.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace edgeway::stream {
namespace {

class CollectingSink : public ResultSink {
 public:
  void OnResults(ResultBatch results) override {
    std::lock_guard lock(mu_);
    for (Reading& r : results.readings) by_key_[r.device_id + "/" + r.sensor].push_back(r.ts_ns);
    insights_ += results.insights.size();
    for (WindowResult& w : results.windows) windows_.push_back(std::move(w));
    late_ += results.late.size();
    for (SavedKeyState& k : results.analytics_state) {
      snapshot_[k.device_id + "/" + k.sensor] = std::move(k.bytes);
    }
  }
  std::map<std::string, std::vector<int64_t>> by_key_;
  size_t insights_ = 0;
  std::vector<WindowResult> windows_;
  size_t late_ = 0;
  std::map<std::string, std::string> snapshot_;  // each key's latest saved state
  std::mutex mu_;
};

TEST(ShardedEngineTest, EveryReadingProcessedOnceInOrderPerKey) {
  CollectingSink sink;
  {
    ShardedEngine engine({.shards = 3, .queue_capacity = 64}, &sink);
    for (int i = 0; i < 5000; ++i) {
      Reading r;
      r.device_id = "dev-" + std::to_string(i % 17);
      r.sensor = i % 2 == 0 ? "temp" : "hum";
      r.ts_ns = i;
      r.value = (i % 50 == 49) ? 100 : 10 + (i % 3);
      ASSERT_TRUE(engine.Submit(std::move(r)));
    }
    engine.Stop();
    EXPECT_EQ(engine.processed(), 5000u);
    EXPECT_EQ(engine.keys(), 34u);
    EXPECT_FALSE(engine.Submit(Reading{}));
  }
  size_t total = 0;
  for (const auto& [key, ts] : sink.by_key_) {
    total += ts.size();
    EXPECT_TRUE(std::is_sorted(ts.begin(), ts.end())) << key;
  }
  EXPECT_EQ(total, 5000u);
  EXPECT_TRUE(sink.snapshot_.empty());  // no save_interval_ns, no snapshots
}

TEST(ShardedEngineTest, ShardsCloseTheWindowsOfTheirKeys) {
  CollectingSink sink;
  ShardedEngine engine({.windows = {{.name = "10s", .size_ns = 10 * kNsPerSecond}}, .shards = 2},
                       &sink);
  for (int device = 0; device < 4; ++device) {
    // Seconds 0..24, one of them late (second 3 after second 24).
    for (int s : {0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 24, 3}) {
      ASSERT_TRUE(engine.Submit({.device_id = "dev-" + std::to_string(device),
                                 .sensor = "t",
                                 .ts_ns = s * kNsPerSecond,
                                 .value = static_cast<double>(s)}));
    }
  }
  engine.Stop();
  ASSERT_EQ(sink.windows_.size(), 8u);  // [0, 10) and [10, 20) per device
  for (const WindowResult& w : sink.windows_) {
    EXPECT_EQ(w.count, w.start_ns == 0 ? 9u : 10u);
    EXPECT_DOUBLE_EQ(w.mean, w.start_ns == 0 ? 42.0 / 9 : 14.5);
  }
  EXPECT_EQ(sink.late_, 4u);
  EXPECT_EQ(engine.late_readings(), 4u);
}

// Each shard snapshots the keys that changed every save_interval_ns, without a stop: the latest
// snapshot of each key is its state after its last reading, as SaveAnalytics gives it at the stop.
TEST(ShardedEngineTest, ShardsSnapshotTheirKeysStateNowAndThen) {
  CollectingSink sink;
  const AnalyticsOptions analytics = {.detector = DetectorKind::kEnsemble, .ensemble_warmup = 50};
  ShardedEngine engine({.analytics = analytics, .shards = 2, .save_interval_ns = 20 * 1'000'000},
                       &sink);
  constexpr int kReadings = 400;
  for (int i = 0; i < kReadings; ++i) {
    ASSERT_TRUE(engine.Submit({.device_id = "dev-" + std::to_string(i % 4),
                               .sensor = "t",
                               .ts_ns = i / 4 * kNsPerSecond,
                               .value = 20 + std::sin(i)}));
  }
  // Snapshots that know every key's last reading: restored, it is a duplicate.
  auto knows_the_last_readings = [&] {
    std::lock_guard lock(sink.mu_);
    if (sink.snapshot_.size() < 4) return false;
    for (const auto& [key, bytes] : sink.snapshot_) {
      KeyedAnalytics restored(
          {.detector = DetectorKind::kEnsemble, .ensemble_warmup = 50, .skip_duplicates = true});
      const std::string device = key.substr(0, key.find('/'));
      if (!restored.Restore({device, "t", bytes})) return false;
      std::vector<Insight> insights;
      const int64_t last = (kReadings - 1) / 4 * kNsPerSecond;
      if (!restored.Process({.device_id = device, .sensor = "t", .ts_ns = last}, &insights)
               .duplicate) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(testing::WaitUntil(knows_the_last_readings, std::chrono::seconds(30)));
  engine.Stop();
  // The stop's save gives every key once, a chunk at a time: with 1 byte a chunk, a key a chunk.
  std::set<std::string> saved;
  for (auto chunk = engine.SaveAnalytics(1); !chunk.empty(); chunk = engine.SaveAnalytics(1)) {
    ASSERT_EQ(chunk.size(), 1u);
    const SavedKeyState& key = chunk[0];
    EXPECT_TRUE(saved.insert(key.device_id).second) << key.device_id << " given twice";
    EXPECT_EQ(sink.snapshot_[key.device_id + "/" + key.sensor], key.bytes) << key.device_id;
  }
  EXPECT_EQ(saved.size(), 4u);
}

// The shards ask their windows about silent keys every second, by the engine's clock: the last
// window of a device that stopped sending closes once the idle timeout has passed on it.
TEST(ShardedEngineTest, TheWindowsOfASilentKeyCloseByTheEnginesClock) {
  CollectingSink sink;
  ManualClock clock(1'000'000 * kNsPerSecond);
  ShardedEngine engine({.windows = {{.name = "10s",
                                     .size_ns = 10 * kNsPerSecond,
                                     .idle_timeout_ns = 30 * kNsPerSecond}},
                        .shards = 2,
                        .clock = &clock},
                       &sink);
  for (int s = 0; s < 5; ++s) {
    ASSERT_TRUE(engine.Submit({.device_id = "dev",
                               .sensor = "t",
                               .ts_ns = s * kNsPerSecond,
                               .value = static_cast<double>(s),
                               .received_ns = clock.NowNs()}));
  }
  ASSERT_TRUE(
      testing::WaitUntil([&] { return engine.processed() == 5; }, std::chrono::seconds(10)));
  clock.Advance(30 * kNsPerSecond);
  auto closed = [&] {
    std::lock_guard lock(sink.mu_);
    return !sink.windows_.empty();
  };
  EXPECT_TRUE(testing::WaitUntil(closed, std::chrono::seconds(10)));
  engine.Stop();
  ASSERT_EQ(sink.windows_.size(), 1u);
  EXPECT_EQ(sink.windows_[0].count, 5u);
  EXPECT_DOUBLE_EQ(sink.windows_[0].mean, 2);
}

// Keys no reading arrived for in forget_after_ns (by the engine's clock) are dropped, their open
// windows closed first.
TEST(ShardedEngineTest, KeysSilentForTooLongAreForgotten) {
  CollectingSink sink;
  ManualClock clock(1'000'000 * kNsPerSecond);
  ShardedEngine engine({.windows = {{.name = "10s", .size_ns = 10 * kNsPerSecond}},
                        .shards = 2,
                        .forget_after_ns = 3600 * kNsPerSecond,
                        .clock = &clock},
                       &sink);
  auto submit = [&](const char* device) {
    ASSERT_TRUE(engine.Submit({.device_id = device,
                               .sensor = "t",
                               .ts_ns = 0,
                               .value = 1,
                               .received_ns = clock.NowNs()}));
  };
  submit("gone");
  submit("stays");
  clock.Advance(3000 * kNsPerSecond);
  submit("stays");  // a redelivery, but a sign of life
  submit("new");
  ASSERT_TRUE(
      testing::WaitUntil([&] { return engine.processed() == 4; }, std::chrono::seconds(10)));
  clock.Advance(601 * kNsPerSecond);  // "gone" silent for 3601 s
  EXPECT_TRUE(
      testing::WaitUntil([&] { return engine.keys_forgotten() == 1; }, std::chrono::seconds(10)));
  engine.Stop();
  EXPECT_EQ(engine.keys(), 2u);
  ASSERT_EQ(sink.windows_.size(), 1u);  // gone's open window, closed as it was forgotten
  EXPECT_EQ(sink.windows_[0].device_id, "gone");
}

TEST(ShardedEngineTest, DropPolicyRefusesWhenFull) {
  // A sink that blocks the only shard until released, so its queue fills.
  struct GateSink : ResultSink {
    std::mutex mu;
    void OnResults(ResultBatch) override { std::lock_guard lock(mu); }
  } sink;
  std::unique_lock hold(sink.mu);
  ShardedEngine engine(
      {.shards = 1, .queue_capacity = 4, .overflow = OverflowPolicy::kDrop, .batch = 1}, &sink);
  int accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += engine.Submit(Reading{.device_id = "d", .sensor = "s"});
  EXPECT_LT(accepted, 100);
  EXPECT_GE(accepted, 4);
  hold.unlock();
  engine.Stop();
  EXPECT_EQ(engine.processed(), static_cast<uint64_t>(accepted));
}

}  // namespace
}  // namespace edgeway::stream
