#include "edgeway/stream/event_window.h"

#include <cmath>
#include <map>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace edgeway::stream {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

constexpr int64_t kS = 1'000'000'000;

Reading At(double seconds, double value, std::string device = "d1", std::string sensor = "t") {
  Reading r;
  r.device_id = std::move(device);
  r.sensor = std::move(sensor);
  r.ts_ns = static_cast<int64_t>(seconds * kS);
  r.value = value;
  return r;
}

WindowSpec Tumbling(int64_t size_s, int64_t delay_s = 0, int64_t lateness_s = 0) {
  return {.name = "w",
          .kind = WindowKind::kTumbling,
          .size_ns = size_s * kS,
          .watermark_delay_ns = delay_s * kS,
          .allowed_lateness_ns = lateness_s * kS};
}

WindowSpec Sliding(int64_t size_s, int64_t slide_s, int64_t delay_s = 0, int64_t lateness_s = 0) {
  return {.name = "s",
          .kind = WindowKind::kSliding,
          .size_ns = size_s * kS,
          .slide_ns = slide_s * kS,
          .watermark_delay_ns = delay_s * kS,
          .allowed_lateness_ns = lateness_s * kS};
}

// Feeds readings to one key's windows, each a batch of its own, and keeps what comes out.
struct Harness {
  explicit Harness(WindowSpec s) : spec(std::move(s)), windows(&spec) {}
  void Add(double seconds, double value) {
    windows.Add(At(seconds, value), &results, &late);
    windows.Revise(&results);
  }
  WindowSpec spec;
  KeyWindows windows;
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
};

TEST(PercentileTest, InterpolatesLinearlyAsNumpy) {
  std::vector<double> v = {3, 1, 4, 2};
  EXPECT_DOUBLE_EQ(Percentile(&v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(&v, 25), 1.75);  // numpy.percentile([3,1,4,2], 25)
  EXPECT_DOUBLE_EQ(Percentile(&v, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(&v, 90), 3.7);
  EXPECT_DOUBLE_EQ(Percentile(&v, 100), 4);
  std::vector<double> one = {7};
  EXPECT_DOUBLE_EQ(Percentile(&one, 99), 7);
  // Ascending percentiles, each searching only above the last, as each alone.
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int> draw(0, 50);  // with ties
  for (size_t n : {1, 2, 7, 100, 1001}) {
    std::vector<double> values(n);
    for (double& x : values) x = draw(rng);
    std::vector<double> chained = values;
    size_t from = 0;
    for (double p : {0.0, 1.0, 25.0, 50.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
      std::vector<double> alone = values;
      EXPECT_DOUBLE_EQ(Percentile(&chained, p, &from), Percentile(&alone, p)) << n << " " << p;
    }
  }
}

TEST(KeyWindowsTest, TumblingWindowClosesWhenTheWatermarkPassesItsEnd) {
  Harness h(Tumbling(10));
  h.Add(1, 3);
  h.Add(2, 1);
  h.Add(5, 2);
  h.Add(9.999, 6);
  EXPECT_THAT(h.results, IsEmpty());
  h.Add(12, 10);  // watermark 12 >= 10
  ASSERT_EQ(h.results.size(), 1u);
  const WindowResult& r = h.results[0];
  EXPECT_EQ(r.window, "w");
  EXPECT_EQ(r.device_id, "d1");
  EXPECT_EQ(r.sensor, "t");
  EXPECT_EQ(r.start_ns, 0);
  EXPECT_EQ(r.end_ns, 10 * kS);
  EXPECT_EQ(r.count, 4u);
  EXPECT_DOUBLE_EQ(r.mean, 3);
  EXPECT_DOUBLE_EQ(r.min, 1);
  EXPECT_DOUBLE_EQ(r.max, 6);
  EXPECT_DOUBLE_EQ(r.stddev, std::sqrt(14.0 / 4));  // deviations 0, -2, -1, 3
  // Sorted 1 2 3 6: p50 between 2 and 3; p90 at 2.7 -> 3 + 0.7 * 3; p99 at 2.97.
  EXPECT_THAT(r.percentiles,
              ElementsAre(Pair(50, DoubleNear(2.5, 1e-12)), Pair(90, DoubleNear(5.1, 1e-12)),
                          Pair(99, DoubleNear(5.91, 1e-12))));
  EXPECT_EQ(r.revision, 0u);
  EXPECT_EQ(h.windows.open_windows(), 1u);  // [10, 20) holds 12
}

// A key that falls silent does not hold its windows open for ever: after the idle timeout by the
// gateway's clock its open windows are closed, and silence counts from the engine's start. Its
// watermark stays: a device that was offline sends its backlog later, which is on time.
TEST(KeyWindowsTest, AnIdleKeysWindowsCloseAndItsBacklogIsOnTime) {
  WindowSpec spec = Tumbling(10, /*delay_s=*/2, /*lateness_s=*/0);
  spec.idle_timeout_ns = 12 * kS;
  KeyWindows windows(&spec);
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
  const int64_t gateway = 1'000'000 * kS;  // the device's clock reads 0 at the gateway's 1e6 s
  auto add = [&](double seconds, int64_t received) {
    Reading r = At(seconds, seconds);
    r.received_ns = received;
    windows.Add(r, &results, &late);
    windows.Revise(&results);
  };
  for (double t : {1, 4, 8}) add(t, gateway + static_cast<int64_t>(t * kS));
  windows.Idle(gateway + 19 * kS, gateway, &results);  // silent for 11 s
  EXPECT_THAT(results, IsEmpty());
  windows.Idle(gateway + 20 * kS, gateway, &results);  // 12 s: [0, 10) closes
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].start_ns, 0);
  EXPECT_EQ(results[0].count, 3u);
  EXPECT_EQ(results[0].revision, 0u);
  EXPECT_EQ(windows.watermark(), 6 * kS);  // where the readings put it
  windows.Idle(gateway + 30 * kS, gateway, &results);
  EXPECT_EQ(results.size(), 1u);  // closed once

  // The device was offline; back at the gateway's 60 s, it sends what it queued, in order. None
  // of it is late, though the window it starts in was closed.
  for (double t : {9, 12, 15, 18, 22}) add(t, gateway + 60 * kS);
  EXPECT_THAT(late, IsEmpty());
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[1].start_ns, 0);  // again, with the 9, when the watermark (13) closed it
  EXPECT_EQ(results[1].count, 4u);
  EXPECT_EQ(results[1].revision, 1u);
  EXPECT_EQ(results[2].start_ns, 10 * kS);  // 12, 15, 18: closed by the watermark (20)
  EXPECT_EQ(results[2].count, 3u);
  EXPECT_EQ(results[2].revision, 0u);

  // Silent again: [20, 30) closes for it; when the device comes back with nothing for that
  // window, the watermark passing it emits nothing more.
  windows.Idle(gateway + 72 * kS, gateway, &results);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[3].start_ns, 20 * kS);
  EXPECT_EQ(results[3].count, 1u);
  add(45, gateway + 100 * kS);
  EXPECT_EQ(results.size(), 4u);
  EXPECT_EQ(windows.open_windows(), 1u);  // [40, 50)
  EXPECT_THAT(late, IsEmpty());

  // Silence before the engine started does not count; a key with no receive times, or a spec
  // without a timeout, never goes idle.
  std::vector<WindowResult> none;
  KeyWindows restarted(&spec);
  Reading r = At(1, 1);
  r.received_ns = gateway;
  restarted.Add(r, &none, &late);
  restarted.Idle(gateway + 100 * kS, gateway + 95 * kS, &none);
  KeyWindows unknown(&spec);
  unknown.Add(At(1, 1), &none, &late);
  unknown.Idle(gateway + 100 * kS, 0, &none);
  WindowSpec never = Tumbling(10);
  KeyWindows patient(&never);
  patient.Add(r, &none, &late);
  patient.Idle(gateway + 100 * kS, 0, &none);
  EXPECT_THAT(none, IsEmpty());
}

TEST(KeyWindowsTest, AnIdleKeysSessionClosesAndItsBacklogRevisesIt) {
  WindowSpec spec = {
      .name = "s", .kind = WindowKind::kSession, .gap_ns = 5 * kS, .idle_timeout_ns = 5 * kS};
  KeyWindows sessions(&spec);
  std::vector<WindowResult> closed;
  std::vector<LateReading> late;
  const int64_t gateway = 1'000'000 * kS;
  auto add = [&](double t, int64_t received) {
    Reading s = At(t, t);
    s.received_ns = received;
    sessions.Add(s, &closed, &late);
    sessions.Revise(&closed);
  };
  for (double t : {1, 2}) add(t, gateway + static_cast<int64_t>(t * kS));
  sessions.Idle(gateway + 7 * kS, 0, &closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].end_ns, 7 * kS);
  EXPECT_EQ(closed[0].count, 2u);
  // The backlog: 4 extends it to [1, 9), emitted again when the watermark passes its new end.
  add(4, gateway + 30 * kS);
  EXPECT_EQ(closed.size(), 1u);
  add(20, gateway + 30 * kS);
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[1].start_ns, 1 * kS);
  EXPECT_EQ(closed[1].end_ns, 9 * kS);
  EXPECT_EQ(closed[1].count, 3u);
  EXPECT_EQ(closed[1].revision, 1u);
  // Closed for silence and not reached by a backlog: the watermark passing it emits nothing.
  sessions.Idle(gateway + 40 * kS, 0, &closed);
  ASSERT_EQ(closed.size(), 3u);  // [20, 25)
  add(40, gateway + 50 * kS);
  EXPECT_EQ(closed.size(), 3u);
  EXPECT_THAT(late, IsEmpty());
}

// A forgotten key's open windows are closed first.
TEST(KeyedWindowsTest, ForgottenKeysCloseTheirOpenWindowsFirst) {
  KeyedWindows windows({Tumbling(10)});
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
  for (const char* device : {"quiet", "busy"}) {
    for (double t : {1, 2, 12}) windows.Process(At(t, t, device), &results, &late);
  }
  ASSERT_EQ(results.size(), 2u);  // [0, 10) of each
  windows.Forget(std::vector<std::pair<std::string, std::string>>{{"quiet", "t"}, {"unknown", "t"}},
                 &results);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[2].device_id, "quiet");
  EXPECT_EQ(results[2].start_ns, 10 * kS);
  EXPECT_EQ(results[2].count, 1u);
  EXPECT_EQ(windows.open_windows(), 1u);  // busy's [10, 20)
}

TEST(KeyWindowsTest, OutOfOrderReadingsWithinTheDelayAreCounted) {
  Harness h(Tumbling(10, /*delay_s=*/5));
  h.Add(1, 1);
  h.Add(8, 8);
  h.Add(3, 3);
  h.Add(11, 11);  // watermark 6: [0, 10) stays open
  h.Add(9, 9);    // older than the newest, within the delay
  EXPECT_THAT(h.results, IsEmpty());
  h.Add(16, 16);  // watermark 11 closes [0, 10)
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].count, 4u);
  EXPECT_DOUBLE_EQ(h.results[0].mean, (1 + 8 + 3 + 9) / 4.0);
  EXPECT_THAT(h.late, IsEmpty());

  h.Add(4, 4);  // [0, 10) is closed and there is no allowed lateness
  ASSERT_EQ(h.late.size(), 1u);
  EXPECT_EQ(h.late[0].window, "w");
  EXPECT_EQ(h.late[0].reading.ts_ns, 4 * kS);
  EXPECT_EQ(h.late[0].watermark_ns, 11 * kS);
  EXPECT_EQ(h.results.size(), 1u);  // no update
}

TEST(KeyWindowsTest, AllowedLatenessUpdatesTheResultThenTheWindowIsGone) {
  Harness h(Tumbling(10, /*delay_s=*/0, /*lateness_s=*/5));
  h.Add(1, 1);
  h.Add(2, 2);
  h.Add(12, 12);  // closes [0, 10); kept until the watermark reaches 15
  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].count, 2u);
  EXPECT_EQ(h.results[0].revision, 0u);

  h.Add(3, 3);  // late, but within the lateness: the result again, revised
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.results[1].start_ns, 0);
  EXPECT_EQ(h.results[1].count, 3u);
  EXPECT_DOUBLE_EQ(h.results[1].mean, 2);
  EXPECT_EQ(h.results[1].revision, 1u);
  EXPECT_THAT(h.late, IsEmpty());

  h.Add(14.5, 1);  // watermark 14.5: [0, 10) still kept (10 + 5 > 14.5)
  h.Add(4, 4);
  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_EQ(h.results[2].revision, 2u);
  EXPECT_EQ(h.results[2].count, 4u);

  h.Add(15, 0);  // watermark 15: [0, 10) is gone for good
  h.Add(5, 5);
  EXPECT_EQ(h.results.size(), 3u);
  ASSERT_EQ(h.late.size(), 1u);
  EXPECT_EQ(h.late[0].reading.value, 5);
}

TEST(KeyWindowsTest, SlidingWindowsOverlap) {
  Harness h(Sliding(10, 5));
  h.Add(1, 1);   // [-5, 5) and [0, 10)
  h.Add(7, 2);   // [0, 10) and [5, 15)
  h.Add(12, 3);  // [5, 15) and [10, 20); watermark 12 closes [-5, 5)
  h.Add(21, 4);  // watermark 21 closes [0, 10), [5, 15), [10, 20)
  ASSERT_EQ(h.results.size(), 4u);
  struct Expect {
    int64_t start;
    uint64_t count;
    double mean;
  };
  std::vector<Expect> expected = {{-5, 1, 1}, {0, 2, 1.5}, {5, 2, 2.5}, {10, 1, 3}};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(h.results[i].start_ns, expected[i].start * kS);
    EXPECT_EQ(h.results[i].end_ns, (expected[i].start + 10) * kS);
    EXPECT_EQ(h.results[i].count, expected[i].count);
    EXPECT_DOUBLE_EQ(h.results[i].mean, expected[i].mean);
  }
  // A late reading in [10, 20) and [15, 25): the first is gone, the second open, so it counts.
  h.Add(16, 5);
  EXPECT_THAT(h.late, IsEmpty());
  h.Add(31, 6);  // closes [15, 25) = {16} and [20, 30) = {21}
  ASSERT_EQ(h.results.size(), 6u);
  EXPECT_EQ(h.results[4].start_ns, 15 * kS);
  EXPECT_EQ(h.results[4].count, 2u);  // 16 and 21
  EXPECT_EQ(h.results[5].start_ns, 20 * kS);
  EXPECT_EQ(h.results[5].count, 1u);
}

TEST(KeyWindowsTest, SessionsCloseAfterTheGapAndMergeWhenBridged) {
  Harness h({.name = "sess",
             .kind = WindowKind::kSession,
             .gap_ns = 5 * kS,
             .allowed_lateness_ns = 100 * kS});
  h.Add(0, 1);
  h.Add(2, 3);   // session [0, 7)
  h.Add(9, 2);   // 9 >= 7: a new session [9, 14)
  h.Add(30, 0);  // watermark 30 closes both
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.results[0].start_ns, 0);
  EXPECT_EQ(h.results[0].end_ns, 7 * kS);
  EXPECT_EQ(h.results[0].count, 2u);
  EXPECT_EQ(h.results[1].start_ns, 9 * kS);
  EXPECT_EQ(h.results[1].end_ns, 14 * kS);

  h.Add(5, 6);  // [5, 10) touches both: one session [0, 14) of 1, 3, 6, 2, revised
  ASSERT_EQ(h.results.size(), 3u);
  const WindowResult& merged = h.results[2];
  EXPECT_EQ(merged.start_ns, 0);
  EXPECT_EQ(merged.end_ns, 14 * kS);
  EXPECT_EQ(merged.count, 4u);
  EXPECT_DOUBLE_EQ(merged.mean, 3);
  EXPECT_EQ(merged.revision, 1u);
  EXPECT_EQ(h.windows.open_windows(), 2u);  // [0, 14) and [30, 35)
}

TEST(KeyWindowsTest, ASessionIsCutAtEachMultipleOfItsMaxDuration) {
  Harness h({.name = "sess",
             .kind = WindowKind::kSession,
             .gap_ns = 5 * kS,
             .max_duration_ns = 20 * kS,
             .allowed_lateness_ns = 100 * kS});
  // A reading every 2 s, never a pause of 5 s: without the cut, one session for ever.
  for (int t = 0; t <= 44; t += 2) h.Add(t, t);
  ASSERT_EQ(h.results.size(), 2u);  // closed by the readings at 20 and 40
  EXPECT_EQ(h.results[0].start_ns, 0);
  EXPECT_EQ(h.results[0].end_ns, 20 * kS);  // not 18 + 5
  EXPECT_EQ(h.results[0].count, 10u);       // 0, 2, ..., 18
  EXPECT_DOUBLE_EQ(h.results[0].mean, 9);
  EXPECT_EQ(h.results[1].start_ns, 20 * kS);
  EXPECT_EQ(h.results[1].end_ns, 40 * kS);
  EXPECT_EQ(h.results[1].count, 10u);  // 20, 22, ..., 38
  EXPECT_DOUBLE_EQ(h.results[1].min, 20);
  EXPECT_EQ(h.windows.open_windows(), 3u);      // and [40, 49) is open
  EXPECT_EQ(h.windows.buffered_values(), 23u);  // 10, 10 and 3

  // A late reading at 19 reaches 20 at most: it revises the first session, not the second; one
  // at 21 is the second's.
  h.Add(19, 100);
  h.Add(21, -100);
  ASSERT_EQ(h.results.size(), 4u);
  EXPECT_EQ(h.results[2].start_ns, 0);
  EXPECT_EQ(h.results[2].end_ns, 20 * kS);
  EXPECT_EQ(h.results[2].count, 11u);
  EXPECT_DOUBLE_EQ(h.results[2].max, 100);
  EXPECT_EQ(h.results[2].revision, 1u);
  EXPECT_EQ(h.results[3].start_ns, 20 * kS);
  EXPECT_EQ(h.results[3].count, 11u);
  EXPECT_DOUBLE_EQ(h.results[3].min, -100);
  EXPECT_EQ(h.results[3].revision, 1u);
}

TEST(KeyWindowsTest, SessionExtendedPastTheWatermarkReopensUntilItsNewEnd) {
  Harness h({.name = "sess",
             .kind = WindowKind::kSession,
             .gap_ns = 10 * kS,
             .allowed_lateness_ns = 100 * kS});
  h.Add(10, 1);  // [10, 20)
  h.Add(25, 2);  // watermark 25 closes [10, 20); [25, 35) opens
  ASSERT_EQ(h.results.size(), 1u);
  h.Add(18, 3);  // [18, 28) joins both: [10, 35), which is open again
  EXPECT_EQ(h.results.size(), 1u);
  h.Add(40, 4);  // watermark 40 closes it
  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.results[1].start_ns, 10 * kS);
  EXPECT_EQ(h.results[1].end_ns, 35 * kS);
  EXPECT_EQ(h.results[1].count, 3u);
  EXPECT_EQ(h.results[1].revision, 1u);
}

TEST(KeyWindowsTest, LateReadingsOfOneBatchReviseAClosedSessionOnce) {
  WindowSpec spec = {.name = "sess",
                     .kind = WindowKind::kSession,
                     .gap_ns = 5 * kS,
                     .allowed_lateness_ns = 100 * kS};
  KeyWindows windows(&spec);
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
  windows.Add(At(0, 1), &results, &late);
  windows.Add(At(30, 0), &results, &late);  // closes [0, 5)
  ASSERT_EQ(results.size(), 1u);
  windows.Add(At(1, 2), &results, &late);  // two late readings in one batch
  windows.Add(At(2, 3), &results, &late);
  EXPECT_EQ(results.size(), 1u);
  EXPECT_TRUE(windows.revising());
  windows.Revise(&results);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].start_ns, 0);
  EXPECT_EQ(results[1].end_ns, 7 * kS);
  EXPECT_EQ(results[1].count, 3u);
  EXPECT_EQ(results[1].revision, 1u);
  EXPECT_FALSE(windows.revising());
  windows.Revise(&results);  // nothing changed since
  EXPECT_EQ(results.size(), 2u);
}

TEST(KeyWindowsTest, FlushClosesWhatIsOpen) {
  Harness h(Tumbling(10));
  h.Add(1, 1);
  h.Add(11, 2);
  h.Add(12, 4);
  ASSERT_EQ(h.results.size(), 1u);
  std::vector<WindowResult> flushed;
  h.windows.Flush(&flushed);
  ASSERT_EQ(flushed.size(), 1u);
  EXPECT_EQ(flushed[0].start_ns, 10 * kS);
  EXPECT_DOUBLE_EQ(flushed[0].mean, 3);
  EXPECT_EQ(h.windows.open_windows(), 0u);
}

// Each value is kept once, whatever the overlap: an hour sliding every 10 s holds about an
// hour of readings, not 360 copies of them.
TEST(KeyWindowsTest, SlidingWindowsKeepEachValueOnce) {
  Harness h(Sliding(3600, 10));
  for (int i = 0; i < 7200; ++i) h.Add(i, i % 7);
  EXPECT_LE(h.windows.buffered_values(), 3600u + 10u);
  EXPECT_EQ(h.windows.open_windows(), 360u);
  EXPECT_EQ(h.results.back().count, 3600u);
}

// Random readings out of order, some beyond the allowed lateness, against the definition: a
// reading counts in a window that is not gone when it arrives, and is late when all its windows
// are; a window's last result is over all the readings that count in it, and its revisions
// number its results. Read one at a time, a window is emitted when it closes and again for each
// late reading; in batches of 64, at most once per batch. Tumbling and sliding, with and
// without lateness. A silence after each batch (the key's idle timeout passing, its open windows
// closed) changes how often windows are emitted, never what their last results are, and no window
// is emitted twice with the same readings.
TEST(KeyWindowsTest, AlignedWindowsMatchTheirDefinitionOnDisorderedInput) {
  const std::vector<WindowSpec> specs = {
      Tumbling(10, /*delay_s=*/3),
      Tumbling(7, /*delay_s=*/0, /*lateness_s=*/12),
      Sliding(60, 10, /*delay_s=*/5),
      Sliding(30, 5, /*delay_s=*/2, /*lateness_s=*/20),
  };
  for (size_t k = 0; k < specs.size(); ++k) {
    size_t results_one_at_a_time = 0;
    for (int batch : {1, 64, -64}) {  // -64: batches of 64, each followed by a silence
      SCOPED_TRACE(testing::Message() << "spec " << k << ", batch " << batch);
      const bool silences = batch < 0;
      batch = std::abs(batch);
      WindowSpec spec = specs[k];
      spec.idle_timeout_ns = kS;
      const int64_t slide = spec.kind == WindowKind::kTumbling ? spec.size_ns : spec.slide_ns;
      KeyWindows windows(&spec);
      std::vector<WindowResult> results;
      std::vector<LateReading> late;
      std::mt19937_64 rng(k);
      std::uniform_real_distribution<double> jitter(-100, 2), noise(-50, 50);
      std::map<int64_t, std::vector<double>> expected;  // by window start
      std::map<int64_t, uint32_t> expected_results;     // one at a time
      size_t expected_late = 0;
      int64_t watermark = INT64_MIN;
      double clock = 0;
      for (int i = 0; i < 3000; ++i) {
        clock += 0.5;
        const double at = std::round(std::max(0.0, clock + (i % 5 == 0 ? jitter(rng) : 0)) * 4) / 4;
        const double value = std::round(noise(rng) * 100) / 100;
        const int64_t t = static_cast<int64_t>(at * kS);
        bool counted = false;
        for (int64_t start = t / slide * slide; start > t - spec.size_ns; start -= slide) {
          const int64_t end = start + spec.size_ns;
          if (watermark != INT64_MIN && end <= watermark - spec.allowed_lateness_ns) {
            continue;  // gone
          }
          expected[start].push_back(value);
          if (watermark != INT64_MIN && end <= watermark) ++expected_results[start];  // closed
          counted = true;
        }
        if (!counted) ++expected_late;
        const int64_t before = watermark;
        watermark = std::max(watermark, t - spec.watermark_delay_ns);
        for (auto& [start, values] : expected) {  // closed now
          const int64_t end = start + spec.size_ns;
          if ((before == INT64_MIN || end > before) && end <= watermark) ++expected_results[start];
        }
        Reading r = At(at, value);
        r.received_ns = (i + 1) * kS;  // the gateway's clock
        windows.Add(r, &results, &late);
        if ((i + 1) % batch == 0) {
          windows.Revise(&results);
          if (silences) windows.Idle(r.received_ns + spec.idle_timeout_ns, 0, &results);
        }
      }
      for (auto& [start, values] : expected) {  // open at the end
        if (start + spec.size_ns > watermark) ++expected_results[start];
      }
      windows.Flush(&results);
      EXPECT_EQ(late.size(), expected_late);
      EXPECT_GT(expected_late, 0u);
      std::map<int64_t, const WindowResult*> last;
      std::map<int64_t, uint32_t> emitted;
      for (const WindowResult& r : results) {
        EXPECT_EQ(r.end_ns - r.start_ns, spec.size_ns);
        EXPECT_EQ(r.revision, emitted[r.start_ns]++) << r.start_ns;
        if (last.contains(r.start_ns)) {
          EXPECT_NE(r.count, last[r.start_ns]->count) << r.start_ns;
        }
        last[r.start_ns] = &r;
      }
      if (silences) {
        EXPECT_GT(results.size(), results_one_at_a_time / 2);  // closed early, and again
      } else if (batch == 1) {
        EXPECT_EQ(emitted, expected_results);
        results_one_at_a_time = results.size();
      } else if (spec.allowed_lateness_ns > 0) {
        EXPECT_LT(results.size(), results_one_at_a_time);
      }
      ASSERT_EQ(last.size(), expected.size());
      for (auto& [start, values] : expected) {
        SCOPED_TRACE(start);
        ASSERT_TRUE(last.contains(start));
        const WindowResult& r = *last[start];
        std::sort(values.begin(), values.end());
        double sum = 0;
        for (double v : values) sum += v;
        EXPECT_EQ(r.count, values.size());
        EXPECT_NEAR(r.mean, sum / static_cast<double>(values.size()), 1e-9);
        EXPECT_EQ(r.min, values.front());
        EXPECT_EQ(r.max, values.back());
        double squares = 0;
        for (double v : values)
          squares += std::pow(v - sum / static_cast<double>(values.size()), 2);
        EXPECT_NEAR(r.stddev, std::sqrt(squares / static_cast<double>(values.size())), 1e-9);
        const size_t middle = (values.size() - 1) / 2;  // the median, as numpy
        EXPECT_NEAR(
            r.percentiles[0].second,
            values.size() % 2 == 1 ? values[middle] : (values[middle] + values[middle + 1]) / 2,
            1e-9);
      }
    }
  }
}

// What a restart reads back: a key's windows rebuilt from its readings since OldestNotGone of its
// newest go on exactly as those that saw every reading, for tumbling, sliding and session windows.
TEST(WindowSpecTest, WindowsRebuiltFromTheOldestNotGoneGoOnAsBefore) {
  WindowSpec session = {.name = "s",
                        .kind = WindowKind::kSession,
                        .gap_ns = 3 * kS,
                        .max_duration_ns = 40 * kS,
                        .watermark_delay_ns = 2 * kS,
                        .allowed_lateness_ns = 5 * kS};
  WindowSpec unbounded = session;
  unbounded.max_duration_ns = 0;
  EXPECT_EQ(Tumbling(10, 2, 5).OldestNotGone(37 * kS), 30 * kS);  // [20, 30) ended by 30: gone
  EXPECT_EQ(Tumbling(10, 2, 5).OldestNotGone(36 * kS), 20 * kS);
  EXPECT_EQ(Sliding(30, 10).OldestNotGone(45 * kS), 20 * kS);  // [20, 50) is the first open
  EXPECT_EQ(session.OldestNotGone(87 * kS), 80 * kS);          // its period: [80, 120)
  EXPECT_EQ(unbounded.OldestNotGone(87 * kS), 77 * kS);        // its last gap
  for (const WindowSpec& spec : {Tumbling(10, 2, 5), Sliding(30, 10, 2, 5), session}) {
    SCOPED_TRACE(spec.name);
    // Readings every 0.5 to 4 s, some out of order within the delay.
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> step(0.5, 4), back(0, 2);
    std::vector<Reading> readings;
    double t = 0;
    for (int i = 0; i < 600; ++i) {
      t += step(rng);
      readings.push_back(At(i % 7 == 0 ? std::max(0.0, t - back(rng)) : t, i));
    }
    constexpr size_t kStop = 400;
    KeyWindows before(&spec), after(&spec);
    std::vector<WindowResult> results_before, results_after, discarded;
    std::vector<LateReading> late;
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < kStop; ++i) {
      before.Add(readings[i], &discarded, &late);
      newest = std::max(newest, readings[i].ts_ns);
    }
    // The restart: what the store gives back, in event-time order; what it emits was stored.
    std::vector<Reading> stored(readings.begin(), readings.begin() + kStop);
    std::stable_sort(stored.begin(), stored.end(),
                     [](const Reading& a, const Reading& b) { return a.ts_ns < b.ts_ns; });
    size_t replayed = 0;
    for (const Reading& r : stored) {
      if (r.ts_ns < spec.OldestNotGone(newest)) continue;
      after.Add(r, &discarded, &late);
      ++replayed;
    }
    after.Revise(&discarded);
    EXPECT_LT(replayed, kStop / 2);
    ASSERT_THAT(late, IsEmpty());
    for (size_t i = kStop; i < readings.size(); ++i) {
      before.Add(readings[i], &results_before, &late);
      after.Add(readings[i], &results_after, &late);
    }
    before.Flush(&results_before);
    after.Flush(&results_after);
    ASSERT_EQ(results_after.size(), results_before.size());
    ASSERT_FALSE(results_before.empty());
    for (size_t i = 0; i < results_before.size(); ++i) {
      EXPECT_EQ(results_after[i].start_ns, results_before[i].start_ns) << i;
      EXPECT_EQ(results_after[i].end_ns, results_before[i].end_ns) << i;
      EXPECT_EQ(results_after[i].count, results_before[i].count) << i;
      EXPECT_DOUBLE_EQ(results_after[i].mean, results_before[i].mean) << i;
      EXPECT_EQ(results_after[i].percentiles, results_before[i].percentiles) << i;
    }
  }
}

// Without percentiles a window keeps no values, only running moments per slice or session, and
// its results are the same (but for rounding): tumbling, sliding and sessions, with late
// readings that revise them and sessions that merge.
TEST(KeyWindowsTest, WithoutPercentilesNoValuesAreKeptAndTheResultsAreTheSame) {
  const std::vector<WindowSpec> specs = {
      Tumbling(10, /*delay_s=*/2, /*lateness_s=*/20),
      Sliding(30, 5, /*delay_s=*/2, /*lateness_s=*/20),
      {.name = "g",
       .kind = WindowKind::kSession,
       .gap_ns = 3 * kS,
       .watermark_delay_ns = 2 * kS,
       .allowed_lateness_ns = 20 * kS},
  };
  for (const WindowSpec& with : specs) {
    SCOPED_TRACE(with.name);
    WindowSpec without = with;
    without.percentiles.clear();
    KeyWindows a(&with), b(&without);
    std::vector<WindowResult> ra, rb;
    std::vector<LateReading> la, lb;
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> jitter(-80, 1), noise(-50, 50);
    std::exponential_distribution<double> pause(1.0);  // now and then a gap that ends a session
    double clock = 0;
    size_t most_buffered = 0;
    for (int i = 0; i < 2000; ++i) {
      clock += pause(rng);
      const double at = std::max(0.0, clock + (i % 7 == 0 ? jitter(rng) : 0));
      const double value = noise(rng);
      a.Add(At(at, value), &ra, &la);
      b.Add(At(at, value), &rb, &lb);
      if (i % 16 == 15) {
        a.Revise(&ra);
        b.Revise(&rb);
      }
      most_buffered = std::max(most_buffered, a.buffered_values());
      EXPECT_EQ(b.buffered_values(), 0u);
    }
    a.Flush(&ra);
    b.Flush(&rb);
    EXPECT_GT(most_buffered, 10u);
    EXPECT_EQ(la.size(), lb.size());
    EXPECT_GT(la.size(), 0u);
    ASSERT_EQ(ra.size(), rb.size());
    EXPECT_GT(ra.size(), 100u);
    for (size_t i = 0; i < ra.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(rb[i].start_ns, ra[i].start_ns);
      EXPECT_EQ(rb[i].end_ns, ra[i].end_ns);
      EXPECT_EQ(rb[i].revision, ra[i].revision);
      EXPECT_EQ(rb[i].count, ra[i].count);
      EXPECT_NEAR(rb[i].mean, ra[i].mean, 1e-9);
      EXPECT_EQ(rb[i].min, ra[i].min);
      EXPECT_EQ(rb[i].max, ra[i].max);
      EXPECT_NEAR(rb[i].stddev, ra[i].stddev, 1e-9);
      EXPECT_EQ(ra[i].percentiles.size(), 3u);
      EXPECT_THAT(rb[i].percentiles, IsEmpty());
    }
  }
}

TEST(KeyedWindowsTest, KeysHaveTheirOwnWatermarksAndSpecsTheirSensors) {
  WindowSpec all = Tumbling(10);
  all.name = "all";
  WindowSpec humidity = Tumbling(10);
  humidity.name = "humidity";
  humidity.sensors = {"hum"};
  KeyedWindows windows({all, humidity});
  std::vector<WindowResult> results;
  std::vector<LateReading> late;
  windows.Process(At(1, 1, "a", "t"), &results, &late);
  windows.Process(At(1, 2, "b", "t"), &results, &late);
  windows.Process(At(1, 3, "a", "hum"), &results, &late);
  windows.Process(At(15, 0, "a", "t"), &results, &late);  // closes only a/t's window
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].window, "all");
  EXPECT_EQ(results[0].device_id, "a");
  EXPECT_EQ(results[0].sensor, "t");
  EXPECT_DOUBLE_EQ(results[0].mean, 1);
  // b's watermark is its own: its reading at 2 is on time.
  windows.Process(At(2, 5, "b", "t"), &results, &late);
  EXPECT_THAT(late, IsEmpty());
  windows.Process(At(15, 0, "a", "hum"), &results, &late);
  ASSERT_EQ(results.size(), 3u);  // a/hum in both specs
  EXPECT_EQ(results[1].window, "all");
  EXPECT_EQ(results[2].window, "humidity");
  EXPECT_DOUBLE_EQ(results[2].mean, 3);
}

}  // namespace
}  // namespace edgeway::stream
