#include "edgeway/store/batch_writer.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace edgeway::store {
namespace {

using ::testing::ElementsAre;

TEST(BatchWriterTest, StoresEverythingFromConcurrentProducersAndReportsCommits) {
  testing::TempDir dir;
  auto store = Store::Open({.path = dir.File("w.db")});
  ASSERT_TRUE(store.ok());
  std::atomic<int64_t> observed{0};
  ManualClock clock(1'000 * kNsPerSecond);
  BatchWriter writer(std::move(*store), {.max_rows_per_transaction = 700, .clock = &clock},
                     [&](const ResultBatch& committed) {
                       observed += static_cast<int64_t>(committed.readings.size());
                     });
  auto produce = [&](std::string device) {
    for (int b = 0; b < 50; ++b) {
      std::vector<Reading> batch;
      for (int i = 0; i < 100; ++i) {
        Reading r;
        r.device_id = device;
        r.sensor = "s";
        r.ts_ns = 1'000 * kNsPerSecond + b * 100 + i;
        batch.push_back(r);
      }
      ASSERT_TRUE(writer.Add({.readings = std::move(batch)}));
    }
  };
  std::thread a(produce, "a"), b(produce, "b");
  a.join();
  b.join();
  writer.Stop();
  EXPECT_EQ(writer.readings_stored(), 10000);
  EXPECT_EQ(observed.load(), 10000);
  EXPECT_EQ(writer.rows_failed(), 0);
  EXPECT_LT(writer.transactions(), 100);  // grouped, not one per Add
  EXPECT_FALSE(writer.Add({.readings = {Reading{}}}));
}

TEST(BatchWriterTest, RetentionUsesTheInjectedClock) {
  testing::TempDir dir;
  const int64_t day = 24 * 3600 * kNsPerSecond;
  {
    auto store = Store::Open({.path = dir.File("r.db")});
    Reading old_reading{.device_id = "d", .sensor = "s", .ts_ns = 10 * day};
    Reading fresh{.device_id = "d", .sensor = "s", .ts_ns = 19 * day};
    ASSERT_TRUE((*store)->Write({.readings = {old_reading, fresh}}).ok());
  }
  ManualClock clock(20 * day);
  auto store = Store::Open({.path = dir.File("r.db")});
  BatchWriter writer(std::move(*store), {.retention_ns = 7 * day, .clock = &clock});
  writer.Stop();
  EXPECT_EQ(writer.rows_expired(), 1);
  auto check = Store::Open({.path = dir.File("r.db"), .read_only = true});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(*(*check)->CountReadings(), 1);
}

TEST(BatchWriterTest, RetentionCatchesUpInSteps) {
  testing::TempDir dir;
  const int64_t day = 24 * 3600 * kNsPerSecond;
  {
    auto store = Store::Open({.path = dir.File("r.db")});
    std::vector<Reading> readings;
    for (int64_t i = 0; i < 9; ++i)
      readings.push_back({.device_id = "d", .sensor = "s", .ts_ns = i});
    readings.push_back({.device_id = "d", .sensor = "s", .ts_ns = 19 * day});
    ASSERT_TRUE((*store)->Write({.readings = readings}).ok());
  }
  ManualClock clock(20 * day);
  auto store = Store::Open({.path = dir.File("r.db")});
  // Steps of 2 rows: five steps, one after another, without waiting the minute between checks.
  // The observer hears of each step that deleted rows.
  std::vector<int64_t> steps;  // readings of "d" deleted, step by step
  BatchWriter writer(
      std::move(*store), {.retention_ns = 7 * day, .retention_step_rows = 2, .clock = &clock},
      nullptr, [&](const Expired& expired) { steps.push_back(expired.devices.at("d").readings); });
  for (int i = 0; i < 3000 && writer.rows_expired() < 9; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(writer.rows_expired(), 9);
  writer.Stop();
  EXPECT_THAT(steps, ElementsAre(2, 2, 2, 2, 1));
  auto check = Store::Open({.path = dir.File("r.db"), .read_only = true});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(*(*check)->CountReadings(), 1);
}

}  // namespace
}  // namespace edgeway::store
