#include "edgeway/stream/analytics.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numbers>
#include <random>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace edgeway::stream {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;

Reading R(std::string sensor, double value, int64_t ts = 0) {
  Reading r;
  r.device_id = "dev-1";
  r.sensor = std::move(sensor);
  r.value = value;
  r.ts_ns = ts;
  return r;
}

std::vector<Insight> Anomalies(const std::vector<Insight>& insights) {
  std::vector<Insight> anomalies;
  for (const Insight& in : insights) {
    if (in.kind == Insight::Kind::kAnomaly) anomalies.push_back(in);
  }
  return anomalies;
}

TEST(HoltForecasterTest, HandComputedLinearSeries) {
  HoltForecaster h(0.5, 0.3);
  h.Update(1);
  EXPECT_FALSE(h.ready());
  h.Update(2);  // level 2, trend 1
  EXPECT_DOUBLE_EQ(h.Forecast(), 3);
  h.Update(3);  // level 0.5*3 + 0.5*(2+1) = 3, trend 0.3*1 + 0.7*1 = 1
  EXPECT_DOUBLE_EQ(h.Forecast(), 4);
  h.Update(5);  // level 0.5*5 + 0.5*4 = 4.5, trend 0.3*1.5 + 0.7*1 = 1.15
  EXPECT_DOUBLE_EQ(h.Forecast(), 5.65);
}

TEST(TrendTest, SeedRuleOnLastFiveValues) {
  CountWindow w(50);
  for (double x : {10.0, 10.0, 11.5, 12.0, 12.5}) w.Push(x);
  // older half {10, 10} mean 10; newer {11.5, 12, 12.5} mean 12 > 10 * 1.1; and without 12.5,
  // the farthest from the mean 11.2, 11.75 > 11 still.
  EXPECT_EQ(TrendOf(w, 5, 0.1), Trend::kIncreasing);
  w.Push(8);  // last five {10, 11.5, 12, 12.5, 8}: older 10.75, newer 10.83
  EXPECT_EQ(TrendOf(w, 5, 0.1), Trend::kStable);
  // {10, 10, 11, 11, 12} rises by the seed's rule (11.33 > 11), but not without the 12 (11).
  CountWindow slow(5);
  for (double x : {10.0, 10.0, 11.0, 11.0, 12.0}) slow.Push(x);
  EXPECT_EQ(TrendOf(slow, 5, 0.1), Trend::kStable);
  // Under 4 values, the seed's rule alone: {10, 10, 15} rises.
  CountWindow three(3);
  for (double x : {10.0, 10.0, 15.0}) three.Push(x);
  EXPECT_EQ(TrendOf(three, 3, 0.1), Trend::kIncreasing);
  CountWindow neg(5);
  for (double x : {-10.0, -10.0, -12.0, -12.0, -12.0}) neg.Push(x);
  EXPECT_EQ(TrendOf(neg, 5, 0.1), Trend::kDecreasing);
}

// A spike raises the newer half's mean past the margin as it comes, and the older half's as it
// goes: by the seed's rule alone a rise and then a fall. Without the spike neither holds. A step
// is a rise from its second reading on.
TEST(TrendTest, ASpikeIsNoTrendAndAStepIs) {
  CountWindow w(50);
  std::vector<Trend> trends;
  for (double x : {10.0, 10.0, 10.0, 10.0, 15.0, 10.0, 10.0, 10.0, 10.0}) {
    w.Push(x);
    if (w.size() >= 5) trends.push_back(TrendOf(w, 5, 0.1));
  }
  EXPECT_THAT(trends, Each(Trend::kStable));
  CountWindow step(50);
  for (double x : {10.0, 10.0, 10.0, 10.0, 15.0}) step.Push(x);
  EXPECT_EQ(TrendOf(step, 5, 0.1), Trend::kStable);
  step.Push(15);
  EXPECT_EQ(TrendOf(step, 5, 0.1), Trend::kIncreasing);
}

TEST(KeyedAnalyticsTest, SpikeIsReportedExactlyOnceWithHandComputedZ) {
  KeyedAnalytics a({.window = 50, .sigma = 3, .min_samples = 10});
  std::vector<Insight> insights;
  // 20 readings alternating 9 and 11: mean 10, population stddev 1.
  for (int i = 0; i < 20; ++i) {
    Verdict v = a.Process(R("temp", i % 2 == 0 ? 9 : 11, i), &insights);
    EXPECT_FALSE(v.anomaly);
  }
  Verdict spike = a.Process(R("temp", 14, 20), &insights);
  EXPECT_TRUE(spike.anomaly);
  EXPECT_DOUBLE_EQ(spike.mean, 10);
  EXPECT_DOUBLE_EQ(spike.stddev, 1);
  EXPECT_DOUBLE_EQ(spike.z, 4);
  EXPECT_EQ(spike.count, 21u);
  EXPECT_DOUBLE_EQ(spike.min, 9);
  EXPECT_DOUBLE_EQ(spike.max, 14);
  for (int i = 21; i < 40; ++i) a.Process(R("temp", i % 2 == 0 ? 9 : 11, i), &insights);
  int anomalies = 0;
  for (const Insight& in : insights) {
    if (in.kind != Insight::Kind::kAnomaly) continue;
    ++anomalies;
    EXPECT_EQ(in.ts_ns, 20);
    EXPECT_DOUBLE_EQ(in.score, 4);
    EXPECT_NEAR(in.confidence, 1 - std::exp(-2.0), 1e-12);
    EXPECT_THAT(in.summary, HasSubstr("4.0 sigma above the mean 10"));
    EXPECT_EQ(in.actions, (std::vector<std::string>{"alert", "inspect_sensor"}));
  }
  EXPECT_EQ(anomalies, 1);
}

TEST(KeyedAnalyticsTest, ThreeSigmaIsNotAnAnomalyButJustAboveIs) {
  KeyedAnalytics a({.window = 50, .sigma = 3, .min_samples = 10});
  std::vector<Insight> insights;
  for (int i = 0; i < 20; ++i) a.Process(R("t", i % 2 == 0 ? 9 : 11), &insights);
  EXPECT_FALSE(a.Process(R("t", 13), &insights).anomaly);  // exactly 3 sigma
  KeyedAnalytics b({.window = 50, .sigma = 3, .min_samples = 10});
  for (int i = 0; i < 20; ++i) b.Process(R("t", i % 2 == 0 ? 9 : 11), &insights);
  EXPECT_TRUE(b.Process(R("t", 13.01), &insights).anomaly);
}

TEST(AnomalyScoreTest, GaussianMassWithinZ) {
  EXPECT_DOUBLE_EQ(AnomalyScore(Verdict{.z = 0}), 0);
  EXPECT_NEAR(AnomalyScore(Verdict{.z = 3}), 0.99730, 1e-5);
  EXPECT_NEAR(AnomalyScore(Verdict{.z = -1}), 0.68269, 1e-5);
}

TEST(KeyedAnalyticsTest, NoVerdictBeforeMinSamples) {
  KeyedAnalytics a({.min_samples = 10});
  std::vector<Insight> insights;
  for (int i = 0; i < 9; ++i) a.Process(R("t", 10), &insights);
  EXPECT_FALSE(a.Process(R("t", 1000), &insights).anomaly);  // 9 readings before it
}

TEST(KeyedAnalyticsTest, KeysDoNotShareWindows) {
  // The seed put every sensor in one window: humidity at 60 beside temperature at 20 would look
  // anomalous. Per key, nothing is.
  KeyedAnalytics a({});
  std::vector<Insight> insights;
  for (int i = 0; i < 200; ++i) {
    a.Process(R("temperature", 20 + 0.1 * (i % 3)), &insights);
    a.Process(R("humidity", 60 + 0.2 * (i % 4)), &insights);
  }
  EXPECT_EQ(a.keys(), 2u);
  EXPECT_TRUE(Anomalies(insights).empty());
}

TEST(KeyedAnalyticsTest, TrendInsightOnChangeOnly) {
  KeyedAnalytics a({});
  std::vector<Insight> insights;
  for (double x : {10.0, 10.0, 10.0, 10.0, 10.0, 12.0, 13.0, 14.0, 15.0, 16.0}) {
    a.Process(R("level", x), &insights);
  }
  ASSERT_EQ(insights.size(), 1u);  // rising once, though it kept rising
  EXPECT_EQ(insights[0].kind, Insight::Kind::kTrend);
  EXPECT_DOUBLE_EQ(insights[0].confidence, 0.6);
  EXPECT_THAT(insights[0].summary, HasSubstr("rising"));
}

TEST(KeyedAnalyticsTest, ARedeliveryIsNotJudgedAgainWhenDuplicatesAreSkipped) {
  KeyedAnalytics gateway({.skip_duplicates = true});
  KeyedAnalytics replay({});
  std::vector<Insight> insights;
  for (int64_t ts : {10, 20, 20, 15, 30, 10}) {  // 20 again, 15 late but new, 10 again
    gateway.Process(R("t", static_cast<double>(ts), ts), &insights);
    replay.Process(R("t", static_cast<double>(ts), ts), &insights);
  }
  Verdict v = gateway.Process(R("t", 30, 30), &insights);
  EXPECT_TRUE(v.duplicate);
  EXPECT_EQ(v.count, 0u);  // not judged
  v = gateway.Process(R("t", 40, 40), &insights);
  EXPECT_FALSE(v.duplicate);
  EXPECT_EQ(v.count, 5u);                                          // 10, 20, 15, 30, 40
  EXPECT_EQ(replay.Process(R("t", 40, 40), &insights).count, 7u);  // every row judged
  // Remembered (stored before a restart): known when it comes again.
  gateway.Remember(R("u", 1, 5));
  EXPECT_TRUE(gateway.Process(R("u", 1, 5), &insights).duplicate);
  // Only the latest RecentTimes::kSize are known.
  for (int64_t ts = 100; ts < 100 + static_cast<int64_t>(RecentTimes::kSize); ++ts) {
    gateway.Process(R("t", 1, ts), &insights);
  }
  EXPECT_FALSE(gateway.Process(R("t", 40, 40), &insights).duplicate);
}

// What a device sends again after a dropped connection is what it had in flight: edgeway device
// keeps 8 messages in flight; a redelivery 16 readings back is still known.
TEST(KeyedAnalyticsTest, ARedeliveryOfWhatWasInFlightIsKnown) {
  KeyedAnalytics a({.skip_duplicates = true});
  std::vector<Insight> insights;
  for (int64_t ts = 1; ts <= 40; ++ts) a.Process(R("t", 1, ts), &insights);
  for (int64_t ts = 25; ts <= 40; ++ts) EXPECT_TRUE(a.Process(R("t", 1, ts), &insights).duplicate);
  Verdict v = a.Process(R("t", 1, 41), &insights);
  EXPECT_FALSE(v.duplicate);
  EXPECT_EQ(v.count, 41u);  // every reading judged once (the window holds 50)
}

// Key state saved by the layout before (version 1, with the event times of the last 8 readings)
// is restored, so that an upgrade does not make every key learn again.
TEST(KeyedAnalyticsTest, KeyStateOfTheFirstLayoutIsRestored) {
  const AnalyticsOptions options = {.skip_duplicates = true};
  auto version1 = [&](uint8_t next, uint8_t size) {
    StateWriter w;
    w.Put<uint32_t>(1);
    w.Put(static_cast<uint8_t>(options.detector));
    w.Put<uint64_t>(options.window);
    w.Put<uint64_t>(options.ensemble_warmup);
    w.PutVector(std::vector<double>{1, 2, 3});
    HoltForecaster(options.holt_alpha, options.holt_beta).Save(&w);
    StuckDetector(options.stuck_factor, options.stuck_min_run).Save(&w);
    for (int64_t t : {90, 100, 30, 40, 50, 60, 70, 80}) w.Put(t);  // a ring: 30 oldest, 100 newest
    w.Put(next);
    w.Put(size);
    w.Put<uint8_t>(0);  // the trend reported: stable
    return SavedKeyState{"dev-1", "t", w.bytes()};
  };
  KeyedAnalytics a(options);
  ASSERT_TRUE(a.Restore(version1(2, 8)));
  std::vector<Insight> insights;
  EXPECT_TRUE(a.Process(R("t", 1, 30), &insights).duplicate);
  EXPECT_TRUE(a.Process(R("t", 1, 100), &insights).duplicate);
  const Verdict v = a.Process(R("t", 4, 110), &insights);
  EXPECT_FALSE(v.duplicate);
  EXPECT_EQ(v.count, 4u);  // the restored 1, 2, 3, and 4
  EXPECT_DOUBLE_EQ(v.max, 4);
  EXPECT_DOUBLE_EQ(v.min, 1);
  EXPECT_FALSE(a.Restore(version1(8, 8)));  // no such slot
  EXPECT_FALSE(a.Restore(version1(2, 9)));
}

// The state saved by a gateway of each layout so far (tests/fuzz/corpus/analytics_state: version
// 1 with no suffix, then -v2, -v3) is restored by the detector that saved it, so that an upgrade
// does not make every key learn again, and goes on judging readings.
TEST(KeyedAnalyticsTest, KeyStateOfEveryLayoutSoFarIsRestored) {
  int restored = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           EDGEWAY_SOURCE_DIR "/tests/fuzz/corpus/analytics_state")) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const DetectorKind kind =
        name.starts_with("ensemble") ? DetectorKind::kEnsemble : DetectorKind::kSigma;
    KeyedAnalytics a({.detector = kind, .skip_duplicates = true});
    ASSERT_TRUE(a.Restore({"dev-1", "t", bytes}));
    std::vector<Insight> insights;
    const Verdict v = a.Process(R("t", 21, int64_t{1} << 62), &insights);
    EXPECT_FALSE(v.duplicate);
    EXPECT_GT(v.count, 1u);  // the restored window and this reading
    ++restored;
  }
  EXPECT_GE(restored, 8);
}

// Saved at a stop and restored at a start, every key goes on as if there had been no restart:
// the same insights, with no new warmup. Other options, or damaged bytes, are refused.
TEST(KeyedAnalyticsTest, RestoredKeysGoOnAsIfThereWasNoRestart) {
  const AnalyticsOptions options = {
      .detector = DetectorKind::kEnsemble, .ensemble_warmup = 100, .skip_duplicates = true};
  KeyedAnalytics before(options);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 1);
  std::vector<Insight> insights;
  for (int i = 0; i < 1000; ++i) {
    before.Process(R("t", 20 + noise(rng), i), &insights);
    before.Process(R("h", i % 50 < 40 ? 50 + noise(rng) : 7.5, i), &insights);  // stuck runs
  }
  std::vector<SavedKeyState> saved = before.Save();
  ASSERT_EQ(saved.size(), 2u);
  KeyedAnalytics after(options);
  for (const SavedKeyState& key : saved) EXPECT_TRUE(after.Restore(key)) << key.sensor;
  EXPECT_EQ(after.keys(), 2u);
  EXPECT_TRUE(after.Process(R("t", 0, 999), &insights).duplicate);  // its latest times too
  std::vector<Insight> went_on, restarted;
  for (int i = 1000; i < 2000; ++i) {
    const double t = 20 + noise(rng) + (i % 300 == 0 ? 15 : 0), h = i % 50 < 40 ? 50 : 7.5;
    before.Process(R("t", t, i), &went_on);
    before.Process(R("h", h, i), &went_on);
    after.Process(R("t", t, i), &restarted);
    after.Process(R("h", h, i), &restarted);
  }
  ASSERT_FALSE(went_on.empty());
  ASSERT_EQ(restarted.size(), went_on.size());
  for (size_t i = 0; i < went_on.size(); ++i) {
    EXPECT_EQ(restarted[i].ts_ns, went_on[i].ts_ns);
    EXPECT_EQ(restarted[i].kind, went_on[i].kind);
  }
  // Another detector or window, or damaged bytes: refused, and the key starts afresh.
  KeyedAnalytics sigma({.skip_duplicates = true});
  EXPECT_FALSE(sigma.Restore(saved[0]));
  KeyedAnalytics longer_warmup({.detector = DetectorKind::kEnsemble, .ensemble_warmup = 300});
  EXPECT_FALSE(longer_warmup.Restore(saved[0]));
  for (size_t n = 0; n < saved[0].bytes.size(); n += 5) {
    SavedKeyState damaged = saved[0];
    damaged.bytes.resize(n);
    EXPECT_FALSE(after.Restore(damaged)) << n;
  }
  SavedKeyState longer = saved[0];
  longer.bytes.push_back('x');
  EXPECT_FALSE(after.Restore(longer));
}

// A snapshot holds the keys that took or remembered a reading since the last one started, each
// as it is when its chunk is taken; a restored key is as saved until its next reading.
TEST(KeyedAnalyticsTest, ASnapshotSavesTheKeysThatChangedSinceTheLast) {
  KeyedAnalytics analytics({.skip_duplicates = true});
  std::vector<Insight> insights;
  for (int i = 0; i < 20; ++i) {
    for (const char* sensor : {"a", "b", "c", "d", "e"})
      analytics.Process(R(sensor, i, i), &insights);
  }
  // The whole snapshot, a key at a time (a chunk of at least a byte): sensor -> state.
  auto snapshot = [](KeyedAnalytics& keys) {
    std::map<std::string, std::string> out;
    EXPECT_TRUE(keys.StartSnapshot());
    for (auto chunk = keys.NextSnapshotChunk(1); !chunk.empty();
         chunk = keys.NextSnapshotChunk(1)) {
      EXPECT_EQ(chunk.size(), 1u);
      for (SavedKeyState& k : chunk) out[k.sensor] = k.bytes;
    }
    return out;
  };
  EXPECT_EQ(snapshot(analytics).size(), 5u);
  EXPECT_TRUE(snapshot(analytics).empty());
  analytics.Process(R("b", 20, 20), &insights);
  analytics.Process(R("b", 20, 20), &insights);  // a duplicate changes nothing more
  analytics.Remember(R("c", 21, 21));
  std::map<std::string, std::string> changed = snapshot(analytics);
  std::map<std::string, std::string> all;
  for (const SavedKeyState& k : analytics.Save()) all[k.sensor] = k.bytes;
  EXPECT_EQ(changed, (std::map<std::string, std::string>{{"b", all["b"]}, {"c", all["c"]}}));

  // A key changed while a snapshot goes on: saved as it is when its chunk is taken, and again by
  // the next snapshot; none starts before the last is done.
  for (const char* sensor : {"a", "b", "c", "d", "e"})
    analytics.Process(R(sensor, 30, 30), &insights);
  ASSERT_TRUE(analytics.StartSnapshot());
  std::vector<SavedKeyState> first = analytics.NextSnapshotChunk(1);
  ASSERT_EQ(first.size(), 1u);
  for (const char* sensor : {"a", "b", "c", "d", "e"})
    analytics.Process(R(sensor, 31, 31), &insights);
  EXPECT_FALSE(analytics.StartSnapshot());
  all.clear();
  for (const SavedKeyState& k : analytics.Save()) all[k.sensor] = k.bytes;
  std::vector<SavedKeyState> rest = analytics.NextSnapshotChunk(SIZE_MAX);
  ASSERT_EQ(rest.size(), 4u);
  for (const SavedKeyState& k : rest) EXPECT_EQ(k.bytes, all[k.sensor]) << k.sensor;
  EXPECT_EQ(snapshot(analytics).size(), 5u);

  // A snapshot of every key (a stop's save) takes the unchanged keys too, and starts over a
  // snapshot under way.
  analytics.Process(R("a", 40, 40), &insights);
  ASSERT_TRUE(analytics.StartSnapshot());
  ASSERT_EQ(analytics.NextSnapshotChunk(1).size(), 1u);
  EXPECT_TRUE(analytics.StartSnapshot(/*every_key=*/true));
  EXPECT_EQ(analytics.NextSnapshotChunk(SIZE_MAX).size(), 5u);
  EXPECT_TRUE(analytics.NextSnapshotChunk(SIZE_MAX).empty());

  KeyedAnalytics restored({.skip_duplicates = true});
  for (const SavedKeyState& key : analytics.Save()) ASSERT_TRUE(restored.Restore(key));
  EXPECT_TRUE(snapshot(restored).empty());
  restored.Process(R("a", 32, 32), &insights);
  EXPECT_EQ(snapshot(restored).size(), 1u);
}

// Keys whose last reading arrived before the cutoff are dropped, none for silence before the
// engine started; a snapshot under way skips them.
TEST(KeyedAnalyticsTest, KeysSilentSinceTheCutoffAreForgotten) {
  KeyedAnalytics analytics({});
  std::vector<Insight> insights;
  auto add = [&](const char* sensor, int64_t received) {
    Reading r = R(sensor, 1, received);
    r.received_ns = received;
    analytics.Process(r, &insights);
  };
  add("a", 100);
  add("b", 200);
  add("c", 300);
  EXPECT_THAT(analytics.Forget(/*cutoff_ns=*/250, /*since_ns=*/260), IsEmpty());  // started since
  ASSERT_TRUE(analytics.StartSnapshot());
  EXPECT_THAT(analytics.Forget(/*cutoff_ns=*/150, /*since_ns=*/0), ElementsAre(Pair("dev-1", "a")));
  EXPECT_EQ(analytics.keys(), 2u);
  std::set<std::string> saved;
  for (const SavedKeyState& k : analytics.NextSnapshotChunk(SIZE_MAX)) saved.insert(k.sensor);
  EXPECT_EQ(saved, (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(analytics.Forget(250, 0).size(), 1u);  // b
  EXPECT_THAT(analytics.Forget(250, 0), IsEmpty());
  add("b", 400);  // back, afresh
  EXPECT_EQ(analytics.keys(), 2u);
}

// The readings of the sensors an entry lists are judged with its options; the rest with the
// defaults. Saved state goes back to a key with the same options for its sensor.
TEST(KeyedAnalyticsTest, SensorsListedPerSensorHaveTheirOwnOptions) {
  const AnalyticsOptions sigma = {.skip_duplicates = true};
  const std::vector<SensorAnalytics> per_sensor = {
      {.sensors = {"vib", "amps"}, .options = {.detector = DetectorKind::kEnsemble}},
      {.sensors = {"door"}, .options = {.window = 20, .sigma = 2}}};
  KeyedAnalytics analytics(sigma, per_sensor);
  std::vector<Insight> insights;
  for (int i = 0; i < 30; ++i) {
    for (const char* sensor : {"t", "vib", "door"}) {
      analytics.Process(R(sensor, 20 + (i % 2), i), &insights);
    }
  }
  // A jump the 3-sigma rule reports and the ensemble, in its warmup, does not.
  EXPECT_TRUE(analytics.Process(R("t", 40, 30), &insights).anomaly);
  const Verdict vib = analytics.Process(R("vib", 40, 30), &insights);
  EXPECT_FALSE(vib.anomaly);
  EXPECT_EQ(vib.score, 0);
  EXPECT_EQ(analytics.Process(R("door", 20, 30), &insights).count, 20u);  // its own window
  EXPECT_TRUE(analytics.Process(R("vib", 40, 30), &insights).duplicate);  // skip_duplicates for all

  std::map<std::string, SavedKeyState> saved;
  for (SavedKeyState& k : analytics.Save()) saved[k.sensor] = k;
  KeyedAnalytics same(sigma, per_sensor);
  for (const auto& [sensor, key] : saved) EXPECT_TRUE(same.Restore(key)) << sensor;
  KeyedAnalytics without(sigma);
  EXPECT_TRUE(without.Restore(saved["t"]));
  EXPECT_FALSE(without.Restore(saved["vib"]));
  EXPECT_FALSE(without.Restore(saved["door"]));
}

TEST(KeyedAnalyticsTest, StatePerKeyIsAboutSixteenBytesPerWindowSlot) {
  KeyedAnalytics a({.window = 50});
  std::vector<Insight> insights;
  a.Process(R("temperature", 1), &insights);
  EXPECT_GE(a.bytes_per_key(), 50u * 16);
  // The rest: the key and its map slot, Holt, the stuck rule, the last 16 event times (128 B).
  EXPECT_LT(a.bytes_per_key(), 50u * 16 + 500);
}

TEST(KeyedAnalyticsTest, EnsembleDetectorFlagsASpike) {
  KeyedAnalytics a({.detector = DetectorKind::kEnsemble, .anomaly_threshold = 0.9});
  std::vector<Insight> insights;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 1);
  for (int i = 0; i < 1000; ++i) a.Process(R("t", 20 + noise(rng), i), &insights);
  EXPECT_TRUE(Anomalies(insights).empty());
  for (int i = 1000; i < 1020; ++i) {
    a.Process(R("t", i == 1000 ? 80 : 20 + noise(rng), i), &insights);
  }
  std::vector<Insight> anomalies = Anomalies(insights);
  ASSERT_GE(anomalies.size(), 1u);
  EXPECT_GE(anomalies[0].ts_ns, 1000);
  EXPECT_LE(anomalies[0].ts_ns, 1002);  // the likelihood may peak a reading or two later
  EXPECT_GE(anomalies[0].confidence, 0.9);
  // Why: the value is beyond the range of the key's readings so far.
  EXPECT_THAT(anomalies[0].summary, HasSubstr("dev-1/t = 80: above the range of its readings ("));
  EXPECT_THAT(anomalies[0].summary, Not(HasSubstr("fault code")));
  EXPECT_LE(a.bytes_per_key(), 4096u + 1024u);  // the ensemble within 4 KiB, plus the window
  // The same value again 100 readings later, far beyond the range: a fault code, said so.
  insights.clear();
  for (int i = 1020; i < 1101; ++i) {
    a.Process(R("t", i == 1100 ? 80 : 20 + noise(rng), i), &insights);
  }
  anomalies = Anomalies(insights);
  ASSERT_EQ(anomalies.size(), 1u);
  EXPECT_EQ(anomalies[0].ts_ns, 1100);
  EXPECT_THAT(anomalies[0].summary, HasSubstr("dev-1/t = 80: above the range of its readings ("));
  EXPECT_THAT(anomalies[0].summary, HasSubstr("), exactly as it read before: a fault code?"));
}

TEST(KeyedAnalyticsTest, EnsembleSaysWhenTheLikelihoodRatherThanTheRangeSpoke) {
  // Noise of 1 around 20, with early runs of two readings at 0 and at 40 that set the range (a
  // lone reading would not); then the noise triples, within that range: only the likelihood of
  // the recent readings can see it.
  KeyedAnalytics a({.detector = DetectorKind::kEnsemble, .anomaly_threshold = 0.3});
  std::vector<Insight> insights;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 1);
  for (int i = 0; i < 1000; ++i) {
    a.Process(R("t", i / 2 == 50 ? 0 : i / 2 == 100 ? 40 : 20 + noise(rng), i), &insights);
  }
  EXPECT_TRUE(Anomalies(insights).empty());
  for (int i = 1000; i < 1200; ++i) a.Process(R("t", 20 + 3 * noise(rng), i), &insights);
  std::vector<Insight> anomalies = Anomalies(insights);
  ASSERT_GE(anomalies.size(), 1u);
  EXPECT_THAT(anomalies[0].summary, HasSubstr("dev-1/t: anomaly likelihood "));
  EXPECT_THAT(anomalies[0].summary, HasSubstr(" over its latest readings (now "));
}

TEST(KeyedAnalyticsTest, AnAnomalyAgainstACycleNamesTheCycle) {
  // A cycle of 100 readings that stops at its mean after 3000: within the range, unremarkable
  // but against the forecast of the cycle, and the insight says which.
  KeyedAnalytics a({.detector = DetectorKind::kEnsemble, .anomaly_threshold = 0.3});
  std::vector<Insight> insights;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 0.3);
  for (int i = 0; i < 3300; ++i) {
    const double cycle = 5 * std::sin(2 * std::numbers::pi * i / 100) + noise(rng);
    const Verdict v = a.Process(R("t", 20 + (i < 3000 ? cycle : 0), i), &insights);
    if (i == 3000) {
      EXPECT_EQ(v.period, 100u);
    }
  }
  std::vector<Insight> anomalies = Anomalies(insights);
  ASSERT_GE(anomalies.size(), 1u);
  EXPECT_GE(anomalies[0].ts_ns, 3000);
  EXPECT_THAT(anomalies[0].summary, HasSubstr("dev-1/t: anomaly likelihood "));
  EXPECT_THAT(anomalies[0].summary,
              HasSubstr("), against the forecast of its cycle of 100 readings"));
}

TEST(KeyedAnalyticsTest, TheEnsembleScoresNothingBeforeItsWarmup) {
  // The same jump at reading 150 is an anomaly once a key's first 100 readings are learnt, and
  // nothing while the default 300 are.
  for (size_t warmup : {size_t{100}, size_t{300}}) {
    KeyedAnalytics a({.detector = DetectorKind::kEnsemble, .ensemble_warmup = warmup});
    std::vector<Insight> insights;
    std::mt19937_64 rng(9);
    std::normal_distribution<double> noise(0, 1);
    for (int i = 0; i < 200; ++i) a.Process(R("t", i == 150 ? 80 : 20 + noise(rng), i), &insights);
    EXPECT_EQ(Anomalies(insights).size(), warmup == 100 ? 1u : 0u) << warmup;
  }
}

TEST(KeyedAnalyticsTest, TheEnsembleAlertsWhenItsScoreReachesTheThreshold) {
  // The level shift of AnomalyDetectorTest.AReaderWithAThresholdSeesEveryEventThatReachesIt,
  // whose score passes 0.5 by less than a doubling: one anomaly at 0.5. With a threshold of 0
  // every nonzero score is one, and a score of 0 never.
  for (double threshold : {0.5, 0.0}) {
    KeyedAnalytics a({.detector = DetectorKind::kEnsemble, .anomaly_threshold = threshold});
    std::vector<Insight> insights;
    std::mt19937_64 rng(5);
    std::normal_distribution<double> noise(0, 1);
    double x = 0;
    size_t zero_scores = 0, anomalies_at_zero = 0;
    for (int i = 0; i < 1300; ++i) {
      x = 0.5 * x + noise(rng);
      const Verdict v = a.Process(R("t", 50 + x + (i >= 1000 ? 2 : 0), i), &insights);
      zero_scores += v.score == 0;
      anomalies_at_zero += v.score == 0 && v.anomaly;
    }
    const std::vector<Insight> anomalies = Anomalies(insights);
    EXPECT_EQ(anomalies_at_zero, 0u) << threshold;
    if (threshold > 0) {
      ASSERT_EQ(anomalies.size(), 1u);
      EXPECT_GE(anomalies[0].ts_ns, 1000);
      EXPECT_GE(anomalies[0].score, 0.5);
    } else {
      EXPECT_EQ(anomalies.size() + zero_scores, 1300u);
    }
  }
}

TEST(KeyedAnalyticsTest, ConstantSeriesStaysQuiet) {
  KeyedAnalytics a({});
  std::vector<Insight> insights;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(a.Process(R("t", 42), &insights).anomaly);
  EXPECT_TRUE(insights.empty());
}

TEST(StuckDetectorTest, ARunTwiceAsLongAsAnyBeforeIsStuckOnce) {
  StuckDetector s(2.0, 20);
  // A quantised sensor: runs of 1 to 12 readings of each whole degree.
  int found = 0;
  for (int run = 1; run <= 12; ++run) {
    for (int i = 0; i < run; ++i) found += s.Update(20 + run % 2);
  }
  EXPECT_EQ(found, 0);
  EXPECT_EQ(s.longest(), 11u);  // the run of 12 is still going
  // The run of 12 goes on: stuck at its 23rd reading, the first past twice the longest run that
  // ended before it (11), and at least 20.
  for (int i = 13; i <= 22; ++i) EXPECT_FALSE(s.Update(20)) << i;
  EXPECT_TRUE(s.Update(20));                                 // 23 > 2 * 11
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(s.Update(20));  // once per run
  EXPECT_EQ(s.run(), 123u);
  // Once over, the stuck run raises the bar like any other: a series whose nature is long runs
  // is reported at a new record, not at every run.
  EXPECT_FALSE(s.Update(25));
  EXPECT_EQ(s.longest(), 123u);
  for (int i = 2; i <= 246; ++i) EXPECT_FALSE(s.Update(25)) << i;
  EXPECT_TRUE(s.Update(25));
}

TEST(StuckDetectorTest, MinimumRunAndHistoryAConstantFromTheStartAndOff) {
  StuckDetector s(2.0, 20);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(s.Update(7));  // nothing to compare with
  // Every reading different, then the same one: not stuck before 20 readings, though 2 > 2 * 1.
  StuckDetector t(2.0, 20);
  for (int i = 0; i < 100; ++i) t.Update(i);
  for (int i = 1; i < 20; ++i) EXPECT_FALSE(t.Update(-1)) << i;
  EXPECT_TRUE(t.Update(-1));
  // A run of 20 after fewer than 20 readings: the key's normal runs are not known yet.
  StuckDetector young(2.0, 20);
  for (int i = 0; i < 19; ++i) young.Update(i);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(young.Update(-1)) << i;
  StuckDetector off(0, 20);
  for (int i = 0; i < 100; ++i) off.Update(i);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(off.Update(-1));
}

TEST(KeyedAnalyticsTest, StuckSensorIsAnInsightOfItsOwn) {
  // Noisy readings, then the sensor freezes: the ensemble sees nothing (a value read over and
  // over is no surprise), the stuck rule does.
  KeyedAnalytics a({.detector = DetectorKind::kEnsemble});
  std::vector<Insight> insights;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 1);
  int64_t t = 0;
  for (; t < 1000; ++t) a.Process(R("t", std::round(20 + noise(rng))), &insights);
  const size_t before = insights.size();
  int stuck_verdicts = 0;
  for (int i = 0; i < 200; ++i, ++t) stuck_verdicts += a.Process(R("t", 21.5, t), &insights).stuck;
  EXPECT_EQ(stuck_verdicts, 1);
  std::vector<Insight> stuck;
  for (size_t i = before; i < insights.size(); ++i) {
    if (insights[i].kind == Insight::Kind::kStuck) stuck.push_back(insights[i]);
  }
  ASSERT_EQ(stuck.size(), 1u);
  EXPECT_EQ(stuck[0].actions, std::vector<std::string>{"inspect_sensor"});
  EXPECT_DOUBLE_EQ(stuck[0].value, 21.5);
  EXPECT_THAT(stuck[0].summary, HasSubstr("dev-1/t has read 21.5 "));
  EXPECT_THAT(stuck[0].summary,
              HasSubstr("readings in a row; its longest run of one value before was "));
  EXPECT_GT(stuck[0].confidence, 0.5);
  EXPECT_LT(stuck[0].confidence, 1);
  EXPECT_EQ(InsightKindName(stuck[0].kind), std::string("stuck"));
  EXPECT_EQ(ParseInsightKind("stuck"), Insight::Kind::kStuck);
  EXPECT_EQ(ParseInsightKind("trend"), Insight::Kind::kTrend);
  EXPECT_EQ(ParseInsightKind("Stuck"), std::nullopt);
}

}  // namespace
}  // namespace edgeway::stream
