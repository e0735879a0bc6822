#include "edgeway/stream/engine.h"

#include <map>
#include <mutex>

#include "gtest/gtest.h"

namespace edgeway::stream {
namespace {

class CollectingSink : public ResultSink {
 public:
  void OnResults(std::vector<Reading> readings, std::vector<Insight> insights) override {
    std::lock_guard lock(mu_);
    for (Reading& r : readings) by_key_[r.device_id + "/" + r.sensor].push_back(r.ts_ns);
    insights_ += insights.size();
  }
  std::map<std::string, std::vector<int64_t>> by_key_;
  size_t insights_ = 0;
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
}

TEST(ShardedEngineTest, DropPolicyRefusesWhenFull) {
  // A sink that blocks the only shard until released, so its queue fills.
  struct GateSink : ResultSink {
    std::mutex mu;
    void OnResults(std::vector<Reading>, std::vector<Insight>) override {
      std::lock_guard lock(mu);
    }
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
