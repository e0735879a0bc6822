// Tests on a real SQLite file in a temporary directory.
#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <tuple>
#include <utility>

#include "edgeway/core/strings.h"
#include "edgeway/store/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace edgeway::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

Reading MakeReading(std::string device, std::string sensor, int64_t ts, double value) {
  Reading r;
  r.device_id = std::move(device);
  r.sensor = std::move(sensor);
  r.ts_ns = ts;
  r.value = value;
  r.received_ns = ts + 5;
  return r;
}

// Saves `keys` as the analytics state, in one chunk.
absl::Status SaveAnalyticsState(Store& store, std::vector<SavedKeyState> keys) {
  return store.SaveAnalyticsState([&] { return std::exchange(keys, {}); });
}

// Every key's analytics state the store holds, in its order.
std::vector<SavedKeyState> LoadAnalyticsState(Store& store) {
  std::vector<SavedKeyState> keys;
  EXPECT_TRUE(store.ForEachAnalyticsState([&](const SavedKeyState& k) { keys.push_back(k); }).ok());
  return keys;
}

// The first `limit` of `rows`, or with `latest` the last.
std::vector<std::string> FirstOrLast(std::vector<std::string> rows, int64_t limit, bool latest) {
  if (rows.size() > static_cast<size_t>(limit)) {
    if (latest) {
      rows.erase(rows.begin(), rows.end() - limit);
    } else {
      rows.resize(static_cast<size_t>(limit));
    }
  }
  return rows;
}

// Asks `query(limit, latest)` for pages of several sizes, newest or oldest, and expects the rows
// of `sorted` (every row, in the order queries answer) that `in` selects, by their `key`.
template <typename Row, typename Key, typename In, typename Query>
void ExpectEveryPage(const std::vector<Row>& sorted, Key key, In in, Query query,
                     const std::string& what) {
  std::vector<std::string> want;
  for (const Row& row : sorted) {
    if (in(row)) want.push_back(key(row));
  }
  for (int64_t limit : {1, 4, 1000}) {
    for (bool latest : {false, true}) {
      auto got = query(limit, latest);
      ASSERT_TRUE(got.ok()) << got.status();
      std::vector<std::string> got_keys;
      for (const Row& row : *got) got_keys.push_back(key(row));
      EXPECT_EQ(got_keys, FirstOrLast(want, limit, latest))
          << what << " limit " << limit << " latest " << latest;
    }
  }
}

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenStore() {
    auto store = Store::Open({.path = dir_.File("edgeway.db")});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  testing::TempDir dir_;
};

TEST_F(StoreTest, RoundTripsReadingsAndInsights) {
  auto store = OpenStore();
  Reading r = MakeReading("dev-1", "temperature", 1000, 21.5);
  r.unit = "Cel";
  r.location = "room_101";
  r.tags = {{"fw", "1.2"}};
  r.flags = Reading::kReceiveTime;
  Insight in;
  in.device_id = "dev-1";
  in.sensor = "temperature";
  in.ts_ns = 1000;
  in.summary = "spike";
  in.actions = {"alert", "inspect_sensor"};
  in.confidence = 0.8;
  in.score = 4.5;
  Insight stuck = in;
  stuck.kind = Insight::Kind::kStuck;
  stuck.ts_ns = 2000;
  auto stats = store->Write(
      {.readings = {r, MakeReading("dev-2", "hum", 2000, 40)}, .insights = {in, stuck}});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->readings_inserted, 2);
  EXPECT_EQ(stats->insights_inserted, 2);

  auto got = store->Readings({.device_id = "dev-1"});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  const Reading& g = (*got)[0];
  EXPECT_EQ(g.sensor, "temperature");
  EXPECT_EQ(g.ts_ns, 1000);
  EXPECT_DOUBLE_EQ(g.value, 21.5);
  EXPECT_EQ(g.unit, "Cel");
  EXPECT_EQ(g.location, "room_101");
  EXPECT_EQ(g.tags, r.tags);
  EXPECT_EQ(g.flags, Reading::kReceiveTime);
  EXPECT_EQ(g.received_ns, 1005);

  auto insights = store->Insights({.kind = Insight::Kind::kAnomaly});
  ASSERT_TRUE(insights.ok());
  ASSERT_EQ(insights->size(), 1u);
  EXPECT_EQ((*insights)[0].actions, in.actions);
  EXPECT_DOUBLE_EQ((*insights)[0].score, 4.5);
  EXPECT_TRUE(store->Insights({.kind = Insight::Kind::kTrend})->empty());
  auto stuck_rows = store->Insights({.kind = Insight::Kind::kStuck});
  ASSERT_TRUE(stuck_rows.ok());
  ASSERT_EQ(stuck_rows->size(), 1u);
  EXPECT_EQ((*stuck_rows)[0].kind, Insight::Kind::kStuck);
  EXPECT_EQ((*stuck_rows)[0].ts_ns, 2000);
}

TEST_F(StoreTest, RedeliveredReadingIsStoredOnce) {
  auto store = OpenStore();
  std::vector<Reading> batch = {MakeReading("d", "s", 1, 1), MakeReading("d", "s", 2, 2)};
  ASSERT_TRUE(store->Write({.readings = batch}).ok());
  auto again = store->Write({.readings = {batch[1], MakeReading("d", "s", 3, 3)}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->readings_inserted, 1);
  EXPECT_EQ(again->readings_duplicate, 1);
  EXPECT_EQ(*store->CountReadings(), 3);
}

TEST_F(StoreTest, LatestReturnsTheNewestRowsOldestFirstAndKeysSummarise) {
  auto store = OpenStore();
  std::vector<Reading> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(MakeReading("d", "s", i, i * 1.5));
  batch.push_back(MakeReading("e", "t", 3, 7));
  Insight anomaly;
  anomaly.device_id = "d";
  anomaly.sensor = "s";
  anomaly.ts_ns = 9;
  ASSERT_TRUE(store->Write({.readings = batch, .insights = {anomaly, anomaly}}).ok());
  auto latest = store->Readings({.device_id = "d", .limit = 3, .latest = true});
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 3u);
  EXPECT_EQ((*latest)[0].ts_ns, 7);
  EXPECT_EQ((*latest)[2].ts_ns, 9);
  auto insights = store->Insights({.limit = 1, .latest = true});
  ASSERT_EQ(insights->size(), 1u);
  auto keys = store->Keys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].device_id, "d");
  EXPECT_EQ((*keys)[0].readings, 10);
  EXPECT_EQ((*keys)[0].last_ts_ns, 9);
  EXPECT_DOUBLE_EQ((*keys)[0].last_value, 13.5);
  EXPECT_EQ((*keys)[0].last_received_ns, 14);
  EXPECT_EQ((*keys)[0].anomalies, 2);
  EXPECT_EQ((*keys)[1].anomalies, 0);
}

TEST_F(StoreTest, ReadingQueriesAnswerAsTheirDefinition) {
  // Several sensors per device with interleaved and equal times, and devices whose names are
  // prefixes of each other: every query (device or not, sensor or not, a time range, latest or
  // oldest, a limit) gives what filtering and sorting every reading gives.
  auto store = OpenStore();
  std::vector<Reading> all;
  for (const char* device : {"d", "d0", "dd"}) {
    for (const char* sensor : {"a", "b", "c"}) {
      for (int64_t t = 0; t < 20; ++t) {
        if ((t + sensor[0] + std::string(device).size()) % 3 == 0) continue;  // gaps differ
        all.push_back(MakeReading(device, sensor, t, static_cast<double>(t)));
      }
    }
  }
  ASSERT_TRUE(store->Write({.readings = all}).ok());
  auto key = [](const Reading& r) { return StrCat(r.ts_ns, " ", r.device_id, "/", r.sensor); };
  std::sort(all.begin(), all.end(), [](const Reading& x, const Reading& y) {
    return std::tie(x.ts_ns, x.device_id, x.sensor) < std::tie(y.ts_ns, y.device_id, y.sensor);
  });
  for (const std::string device : {"", "d", "d0", "none"}) {
    for (const std::string sensor : {"", "b", "none"}) {
      ExpectEveryPage(
          all, key,
          [&](const Reading& r) {
            return (device.empty() || r.device_id == device) &&
                   (sensor.empty() || r.sensor == sensor) && r.ts_ns >= 3 && r.ts_ns < 17;
          },
          [&](int64_t limit, bool latest) {
            return store->Readings({.device_id = device,
                                    .sensor = sensor,
                                    .from_ns = 3,
                                    .to_ns = 17,
                                    .limit = limit,
                                    .latest = latest});
          },
          StrCat("device '", device, "' sensor '", sensor, "'"));
    }
  }
}

TEST_F(StoreTest, InsightQueriesAnswerAsTheirDefinition) {
  // Devices whose names are prefixes of each other, several kinds, insights at equal times
  // (in the order they were stored).
  auto store = OpenStore();
  std::vector<Insight> all;
  for (int64_t t = 0; t < 20; ++t) {
    for (const char* device : {"d", "d0", "dd"}) {
      if ((t + std::string(device).size()) % 3 == 0) continue;
      Insight in;
      in.device_id = device;
      in.sensor = "s";
      in.ts_ns = t;
      in.kind = t % 2 ? Insight::Kind::kAnomaly : Insight::Kind::kTrend;
      in.summary = StrCat(all.size());  // the order stored
      all.push_back(in);
    }
  }
  ASSERT_TRUE(store->Write({.insights = all}).ok());
  auto key = [](const Insight& in) {
    return StrCat(in.ts_ns, " ", in.device_id, " #", in.summary);
  };
  for (const std::string device : {"", "d", "none"}) {
    for (std::optional<Insight::Kind> kind :
         {std::optional<Insight::Kind>(), std::optional(Insight::Kind::kAnomaly)}) {
      ExpectEveryPage(
          all, key,
          [&](const Insight& in) {
            return (device.empty() || in.device_id == device) && (!kind || in.kind == *kind) &&
                   in.ts_ns >= 3 && in.ts_ns < 17;
          },
          [&](int64_t limit, bool latest) {
            return store->Insights({.device_id = device,
                                    .kind = kind,
                                    .from_ns = 3,
                                    .to_ns = 17,
                                    .limit = limit,
                                    .latest = latest});
          },
          StrCat("device '", device, "' kind ", kind ? InsightKindName(*kind) : "any"));
    }
  }
}

TEST_F(StoreTest, RecentReadingsAreEachKeysNewestOldestFirst) {
  auto store = OpenStore();
  std::vector<Reading> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(MakeReading("d", "s", 100 + i, i));
  batch.push_back(MakeReading("e", "t", 5, 50));  // its own newest: within its horizon
  batch.push_back(MakeReading("e", "t", 1, 10));  // 4 before it: beyond
  batch.push_back(MakeReading("d", "a", 50, 1));  // another sensor of d, between d's times
  batch.push_back(MakeReading("d", "a", 52, 2));
  batch.push_back(MakeReading("c", "z", 200, 3));  // a device alone, newest of all
  ASSERT_TRUE(store->Write({.readings = batch}).ok());
  // A key at a time (each key once, so its readings together), each key's oldest first.
  std::vector<std::string> keys;
  std::map<std::string, std::vector<std::string>> seen;
  ASSERT_TRUE(store
                  ->ForEachRecentReading(
                      [](std::string_view, std::string_view, int64_t newest) { return newest - 3; },
                      [&](const Reading& r) {
                        const std::string key = r.device_id + "/" + r.sensor;
                        if (keys.empty() || keys.back() != key) {
                          keys.push_back(key);
                        }
                        seen[key].push_back(StrCat(r.ts_ns, "=", r.value, " at ", r.received_ns));
                      })
                  .ok());
  EXPECT_THAT(keys, UnorderedElementsAre("c/z", "d/a", "d/s", "e/t"));
  EXPECT_THAT(seen["c/z"], ElementsAre("200=3 at 205"));
  EXPECT_THAT(seen["d/a"], ElementsAre("50=1 at 55", "52=2 at 57"));
  EXPECT_THAT(seen["d/s"],
              ElementsAre("106=6 at 111", "107=7 at 112", "108=8 at 113", "109=9 at 114"));
  EXPECT_THAT(seen["e/t"], ElementsAre("5=50 at 10"));
}

TEST_F(StoreTest, AnalyticsStateIsReplacedWhenSaved) {
  auto store = OpenStore();
  std::string binary("\0\1\xff state", 9);
  ASSERT_TRUE(SaveAnalyticsState(*store, {{"d", "t", "old"}}).ok());
  // A chunk at a time, until none.
  std::vector<std::vector<SavedKeyState>> chunks = {{{"d", "t", binary}}, {{"e", "h", "x"}}, {}};
  size_t next = 0;
  ASSERT_TRUE(store->SaveAnalyticsState([&] { return chunks.at(next++); }).ok());
  EXPECT_EQ(next, 3u);
  std::vector<SavedKeyState> loaded = LoadAnalyticsState(*store);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].device_id, "d");
  EXPECT_EQ(loaded[0].sensor, "t");
  EXPECT_EQ(loaded[0].bytes, binary);
  EXPECT_EQ(loaded[1].bytes, "x");
  ASSERT_TRUE(SaveAnalyticsState(*store, {}).ok());  // cleared
  EXPECT_TRUE(LoadAnalyticsState(*store).empty());
}

// A snapshot in a batch replaces the state of its keys only, in the batch's transaction.
TEST_F(StoreTest, ASnapshotReplacesTheStateOfItsKeysOnly) {
  auto store = OpenStore();
  ASSERT_TRUE(SaveAnalyticsState(*store, {{"d", "t", "old"}, {"e", "h", "kept"}}).ok());
  auto stats = store->Write({.readings = {MakeReading("d", "t", 1, 1)},
                             .analytics_state = {{"d", "t", "new"}, {"f", "t", "added"}}});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->analytics_states_saved, 2);
  std::vector<std::string> states;
  for (const SavedKeyState& k : LoadAnalyticsState(*store)) {
    states.push_back(k.device_id + ":" + k.bytes);
  }
  EXPECT_THAT(states, ElementsAre("d:new", "e:kept", "f:added"));
  // Keys the analytics forgot: their state goes.
  ASSERT_TRUE(store->Write({.forgotten = {{"d", "t"}, {"e", "other"}}}).ok());
  states.clear();
  for (const SavedKeyState& k : LoadAnalyticsState(*store)) states.push_back(k.device_id);
  EXPECT_THAT(states, ElementsAre("e", "f"));
  // Forgotten, and back with a new state, in one batch: the new state stays.
  ASSERT_TRUE(
      store->Write({.analytics_state = {{"e", "h", "back"}}, .forgotten = {{"e", "h"}}}).ok());
  std::vector<SavedKeyState> loaded = LoadAnalyticsState(*store);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].bytes, "back");
}

TEST_F(StoreTest, RetentionDeletesOlderRowsOnly) {
  auto store = OpenStore();
  std::vector<Reading> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(MakeReading("d", "s", i * 100, i));
  Insight old_insight;
  old_insight.ts_ns = 50;
  old_insight.device_id = "d";
  old_insight.sensor = "s";
  Insight old_trend = old_insight;
  old_trend.kind = Insight::Kind::kTrend;
  WindowResult old_window{
      .window = "w", .device_id = "d", .sensor = "s", .start_ns = 0, .end_ns = 100, .count = 1};
  WindowResult open_window = old_window;
  open_window.start_ns = 400;
  open_window.end_ns = 600;
  LateReading late{.window = "w", .reading = MakeReading("d", "s", 10, 1)};
  ASSERT_TRUE(store
                  ->Write({.readings = batch,
                           .insights = {old_insight, old_trend},
                           .windows = {old_window, open_window},
                           .late = {late}})
                  .ok());
  auto deleted = store->DeleteOlderThan(500, 1000);
  ASSERT_TRUE(deleted.ok());
  // Readings at 0..400, the insights at 50 (an anomaly, a trend), the window ending at 100, the
  // late reading at 10.
  EXPECT_EQ(deleted->rows, 9);
  ASSERT_EQ(deleted->devices.size(), 1u);
  EXPECT_EQ(deleted->devices["d"].readings, 5);
  EXPECT_EQ(deleted->devices["d"].anomalies, 1);
  EXPECT_EQ(store->WindowResults({})->size(), 1u);
  auto left = store->Readings({});
  ASSERT_EQ(left->size(), 5u);
  EXPECT_EQ(left->front().ts_ns, 500);
}

TEST_F(StoreTest, RetentionDeletesInStepsOfTheOldestTimes) {
  auto store = OpenStore();
  std::vector<Reading> batch;
  for (int64_t t = 0; t < 10; ++t) {
    batch.push_back(MakeReading("a", "s", t, 0));
    batch.push_back(MakeReading("b", "s", t, 0));
  }
  ASSERT_TRUE(store->Write({.readings = batch}).ok());
  // Before 7: 14 rows. Steps of 3 rows take every row of the time of the third oldest (two keys
  // share each time): 4, 4, 4, then the 2 at time 6, then nothing.
  std::vector<int64_t> steps;
  std::map<std::string, int64_t> per_device;
  for (int i = 0; i < 6; ++i) {
    auto step = store->DeleteOlderThan(7, 3);
    ASSERT_TRUE(step.ok());
    steps.push_back(step->rows);
    for (const auto& [device, gone] : step->devices) per_device[device] += gone.readings;
  }
  EXPECT_THAT(steps, ElementsAre(4, 4, 4, 2, 0, 0));
  EXPECT_EQ(per_device, (std::map<std::string, int64_t>{{"a", 7}, {"b", 7}}));
  auto left = store->Readings({});
  ASSERT_EQ(left->size(), 6u);
  EXPECT_EQ(left->front().ts_ns, 7);
}

TEST_F(StoreTest, WalModeAndSchemaVersionRecorded) {
  {
    auto store = OpenStore();
    EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("edgeway.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &stmt, nullptr);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))),
            std::to_string(Store::kSchemaVersion));
  sqlite3_finalize(stmt);
  sqlite3_exec(db, "PRAGMA user_version = 9", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto newer = Store::Open({.path = dir_.File("edgeway.db")});
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(newer.status().message()), HasSubstr("schema version 9"));
}

TEST_F(StoreTest, WindowResultsAreReplacedByRevisionsAndMergedSessions) {
  auto store = OpenStore();
  WindowResult a{.window = "sess",
                 .device_id = "d",
                 .sensor = "s",
                 .start_ns = 0,
                 .end_ns = 7,
                 .count = 2,
                 .mean = 2,
                 .min = 1,
                 .max = 3,
                 .stddev = 1,
                 .percentiles = {{50, 2}, {90, 2.8}}};
  WindowResult b = a;
  b.start_ns = 9;
  b.end_ns = 14;
  WindowResult other_key = a;
  other_key.sensor = "t";
  other_key.start_ns = 9;
  ASSERT_TRUE(store->Write({.windows = {a, b, other_key}}).ok());
  ASSERT_EQ(store->WindowResults({.sensor = "s"})->size(), 2u);

  // A late reading joined both sessions: [0, 14) replaces them, the other key is untouched.
  WindowResult merged = a;
  merged.end_ns = 14;
  merged.count = 4;
  merged.revision = 1;
  auto stats = store->Write({.windows = {merged}});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->window_results_written, 1);
  auto got = store->WindowResults({.window = "sess", .sensor = "s"});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  const WindowResult& g = (*got)[0];
  EXPECT_EQ(g.end_ns, 14);
  EXPECT_EQ(g.count, 4u);
  EXPECT_EQ(g.revision, 1u);
  EXPECT_DOUBLE_EQ(g.stddev, 1);
  EXPECT_EQ(g.percentiles, a.percentiles);
  EXPECT_EQ(store->WindowResults({.sensor = "t"})->size(), 1u);
  EXPECT_EQ(store->WindowResults({.from_ns = 1})->size(), 1u);  // by start: other_key at 9
}

TEST_F(StoreTest, WindowQueriesAnswerAsTheirDefinition) {
  // As for readings: several windows and sensors per device, equal start times, devices whose
  // names are prefixes of each other.
  auto store = OpenStore();
  std::vector<WindowResult> all;
  for (const char* window : {"a", "b"}) {
    for (const char* device : {"d", "d0", "dd"}) {
      for (const char* sensor : {"x", "y"}) {
        for (int64_t t = 0; t < 20; ++t) {
          if ((t + window[0] + sensor[0] + std::string(device).size()) % 3 == 0) continue;
          all.push_back({.window = window,
                         .device_id = device,
                         .sensor = sensor,
                         .start_ns = t,
                         .end_ns = t + 2,
                         .count = 1});
        }
      }
    }
  }
  ASSERT_TRUE(store->Write({.windows = all}).ok());
  auto key = [](const WindowResult& w) {
    return StrCat(w.start_ns, " ", w.window, "/", w.device_id, "/", w.sensor);
  };
  std::sort(all.begin(), all.end(), [](const WindowResult& x, const WindowResult& y) {
    return std::tie(x.start_ns, x.window, x.device_id, x.sensor) <
           std::tie(y.start_ns, y.window, y.device_id, y.sensor);
  });
  for (const std::string window : {"", "b", "none"}) {
    for (const std::string device : {"", "d", "none"}) {
      for (const std::string sensor : {"", "y"}) {
        ExpectEveryPage(
            all, key,
            [&](const WindowResult& w) {
              return (window.empty() || w.window == window) &&
                     (device.empty() || w.device_id == device) &&
                     (sensor.empty() || w.sensor == sensor) && w.start_ns >= 3 && w.start_ns < 17;
            },
            [&](int64_t limit, bool latest) {
              return store->WindowResults({.window = window,
                                           .device_id = device,
                                           .sensor = sensor,
                                           .from_ns = 3,
                                           .to_ns = 17,
                                           .limit = limit,
                                           .latest = latest});
            },
            StrCat("window '", window, "' device '", device, "' sensor '", sensor, "'"));
      }
    }
  }
}

TEST_F(StoreTest, LateReadingsAreKeptInArrivalOrder) {
  auto store = OpenStore();
  std::vector<LateReading> late;
  for (int i = 0; i < 5; ++i) {
    late.push_back(
        {.window = "w", .reading = MakeReading("d", "s", 100 - i, i), .watermark_ns = 200});
  }
  ASSERT_TRUE(store->Write({.late = late}).ok());
  auto got = store->LateReadings({.limit = 2});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].reading.ts_ns, 97);
  EXPECT_EQ((*got)[1].reading.ts_ns, 96);
  EXPECT_EQ((*got)[1].watermark_ns, 200);
  EXPECT_EQ((*got)[1].reading.received_ns, 101);
}

TEST_F(StoreTest, VersionOneFileIsUpgradedAndKeepsItsRows) {
  {
    // A version 1 store as edgeway wrote it before window results existed.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.File("edgeway.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db,
                     "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
                     "CREATE TABLE readings(device TEXT NOT NULL, sensor TEXT NOT NULL, "
                     "ts_ns INTEGER NOT NULL, value REAL NOT NULL, unit TEXT, location TEXT, "
                     "tags TEXT, flags INTEGER NOT NULL DEFAULT 0, received_ns INTEGER, "
                     "PRIMARY KEY (device, sensor, ts_ns)) WITHOUT ROWID;"
                     "CREATE TABLE insights(id INTEGER PRIMARY KEY, device TEXT NOT NULL, "
                     "sensor TEXT NOT NULL, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL, "
                     "summary TEXT NOT NULL, actions TEXT, confidence REAL, value REAL, "
                     "expected REAL, score REAL);"
                     "INSERT INTO readings(device, sensor, ts_ns, value) VALUES ('d','s',1,2);"
                     "INSERT INTO meta VALUES ('schema_version', '1');"
                     "PRAGMA user_version = 1;",
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->SchemaVersion(), Store::kSchemaVersion);
  EXPECT_EQ(*store->CountReadings(), 1);
  ASSERT_TRUE(store->Write({.windows = {{.window = "w", .device_id = "d", .count = 1}}}).ok());
  EXPECT_EQ(store->WindowResults({})->size(), 1u);
}

OutboxMessage Message(std::string device, size_t bytes) {
  return {
      .device_id = device, .topic = "up/" + device + "/senml", .payload = std::string(bytes, 'x')};
}

TEST_F(StoreTest, OutboxKeepsOrderAndSeqsAreNeverReused) {
  auto store = OpenStore();
  auto stats = store->Write({.readings = {MakeReading("a", "s", 1, 1)},
                             .outbox = {Message("a", 10), Message("b", 20), Message("a", 30)}});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->outbox_enqueued, 3);
  EXPECT_EQ(*store->GetOutboxSize(), (OutboxSize{3, 60}));
  auto rows = store->OutboxNext(0, 10);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].device_id, "a");
  EXPECT_EQ((*rows)[1].topic, "up/b/senml");
  EXPECT_EQ((*rows)[2].payload.size(), 30u);
  EXPECT_EQ(store->OutboxNext((*rows)[0].seq, 1)->front().seq, (*rows)[1].seq);

  std::vector<int64_t> all = {(*rows)[0].seq, (*rows)[1].seq, (*rows)[2].seq};
  ASSERT_TRUE(store->OutboxDelete(all).ok());
  EXPECT_EQ(*store->GetOutboxSize(), (OutboxSize{0, 0}));
  ASSERT_TRUE(store->Write({.outbox = {Message("c", 5)}}).ok());
  auto next = store->OutboxNext(0, 10);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_GT((*next)[0].seq, all.back());  // a forwarder past seq 3 still sees it
}

TEST_F(StoreTest, OutboxLimitDropsTheOldestOrRefusesTheNew) {
  {
    auto store = Store::Open({.path = dir_.File("drop.db"), .outbox_max_bytes = 100});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Write({.outbox = {Message("a", 40), Message("b", 40)}}).ok());
    auto stats = (*store)->Write({.outbox = {Message("c", 30)}});  // 110 > 100: "a" goes
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->outbox_dropped, 1);
    EXPECT_EQ(stats->outbox_enqueued, 1);
    auto rows = (*store)->OutboxNext(0, 10);
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0].device_id, "b");
    EXPECT_EQ((*rows)[1].device_id, "c");
    EXPECT_EQ((*store)->GetOutboxSize()->bytes, 70);
  }
  {
    auto store = Store::Open(
        {.path = dir_.File("refuse.db"), .outbox_max_bytes = 100, .outbox_drop_oldest = false});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Write({.outbox = {Message("a", 40), Message("b", 40)}}).ok());
    auto stats = (*store)->Write({.readings = {MakeReading("c", "s", 1, 1)},
                                  .outbox = {Message("c", 15), Message("d", 10)}});
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->outbox_enqueued, 1);  // "c" fits in the 20 bytes left, "d" does not
    EXPECT_EQ(stats->outbox_dropped, 1);
    EXPECT_EQ(stats->readings_inserted, 1);  // the reading itself is stored regardless
    auto rows = (*store)->OutboxNext(0, 10);
    ASSERT_EQ(rows->size(), 3u);
    EXPECT_EQ((*rows)[0].device_id, "a");
    EXPECT_EQ((*rows)[2].device_id, "c");
  }
}

TEST_F(StoreTest, RegistryKeepsTheHighWaterMarkOnlyForTheSameKey) {
  auto store = OpenStore();
  RegisteredDevice d{.device_id = "dev-1",
                     .key_type = "ed25519",
                     .public_key = "PEM-A",
                     .topics = {"devices/dev-1/#"},
                     .created_ns = 5};
  ASSERT_TRUE(store->ProvisionDevice(d).ok());
  std::vector<std::pair<std::string, uint64_t>> seqs = {{"dev-1", 40}, {"nobody", 7}};
  ASSERT_TRUE(store->SaveHighSeqs(seqs).ok());
  seqs = {{"dev-1", 30}};  // never lowered
  ASSERT_TRUE(store->SaveHighSeqs(seqs).ok());
  ASSERT_TRUE(store->ProvisionDevice(d).ok());  // the same key again
  auto all = store->RegisteredDevices();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].high_seq, 40u);
  EXPECT_EQ((*all)[0].topics, d.topics);
  d.public_key = "PEM-B";  // a new key: a new sequence
  ASSERT_TRUE(store->ProvisionDevice(d).ok());
  EXPECT_EQ((*store->RegisteredDevices())[0].high_seq, 0u);
  ASSERT_TRUE(store->SetRevoked("dev-1", true).ok());
  EXPECT_TRUE((*store->RegisteredDevices())[0].revoked);
  EXPECT_EQ(store->SetRevoked("dev-9", true).code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, GarbageFileIsRefusedWithItsPath) {
  std::string path = dir_.File("not-a-db");
  std::ofstream(path) << "this is not sqlite, just text that is long enough to have a header";
  auto store = Store::Open({.path = path});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
}

TEST_F(StoreTest, UnwritableDirectoryIsUnavailable) {
  auto store = Store::Open({.path = dir_.File("missing/dir/edgeway.db")});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace edgeway::store
