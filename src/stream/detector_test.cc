#include "edgeway/stream/detector.h"

#include <cmath>
#include <numbers>
#include <random>

#include "gtest/gtest.h"

namespace edgeway::stream {
namespace {

std::vector<float> Sine(size_t n, size_t period, double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0, noise);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<float>(
        10 * std::sin(2 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(period)) +
        z(rng));
  }
  return v;
}

TEST(DetectSeasonalityTest, FindsThePeriodOfANoisyCycle) {
  EXPECT_EQ(DetectSeasonality(Sine(600, 24, 1.0, 1), 2, 200, 0.6), 24u);
  // A long period over few cycles has a broad peak: within one reading.
  EXPECT_NEAR(static_cast<double>(DetectSeasonality(Sine(600, 144, 1.0, 2), 2, 200, 0.6)), 144, 1);
}

TEST(DetectSeasonalityTest, NoPeriodInNoiseOrFlatSeries) {
  EXPECT_EQ(DetectSeasonality(Sine(600, 24, 0.0, 1), 2, 10, 0.6), 0u);  // period beyond the range
  std::vector<float> noise = Sine(600, 24, 1.0, 3);
  for (size_t i = 0; i < noise.size(); ++i)
    noise[i] -= static_cast<float>(Sine(600, 24, 0.0, 3)[i]);
  EXPECT_EQ(DetectSeasonality(noise, 2, 200, 0.6), 0u);
  EXPECT_EQ(DetectSeasonality(std::vector<float>(600, 5.0f), 2, 200, 0.6), 0u);
}

TEST(AnomalyDetectorTest, SpikeScoresHighOnceAndQuietOtherwise) {
  AnomalyDetector d;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 1);
  double max_before = 0;
  for (int i = 0; i < 2000; ++i) {
    double s = d.Update(50 + noise(rng));
    EXPECT_GE(s, 0);
    EXPECT_LE(s, 1);
    if (i > 600) max_before = std::max(max_before, s);
  }
  double spike = d.Update(50 + 40);  // 40 sigma
  EXPECT_GT(spike, 0.5);
  EXPECT_GT(spike, max_before);
  // The readings right after carry the same event; within the refractory period a report must
  // rise above the last one, so scores reported after the spike only go up.
  double last = spike;
  for (int i = 0; i < 50; ++i) {
    double s = d.Update(50 + noise(rng));
    if (s > 0) {
      EXPECT_GT(s, last);
      last = s;
    }
  }
}

TEST(AnomalyDetectorTest, NothingBeforeWarmupAndFlatSeriesStaysQuiet) {
  AnomalyDetector d({.warmup = 300});
  for (int i = 0; i < 300; ++i) EXPECT_EQ(d.Update(i == 100 ? 1e6 : 1.0), 0) << i;
  AnomalyDetector flat;
  for (int i = 0; i < 3000; ++i) EXPECT_EQ(flat.Update(7.0), 0) << i;
}

TEST(AnomalyDetectorTest, ValueBeyondEverySeenBeforeIsAnAnomaly) {
  // Noise in [0, 1] with a rare burst to 10: after the warmup the range is [0, 10]. A reading of
  // 11 (10% of the range beyond it, and many standard deviations of the recent noise) is
  // reported at once with the top score; 10.3 (within the 5% tolerance) is not.
  AnomalyDetector d({.warmup = 300});
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> noise(0, 1);
  for (int i = 0; i < 1000; ++i) d.Update(i % 250 == 0 ? 10 : noise(rng));
  EXPECT_LT(d.Update(10.3), 1);
  for (int i = 0; i < 300; ++i) d.Update(noise(rng));
  EXPECT_EQ(d.Update(11), 1);
  // Below the range as well, once the refractory period of the first report has passed.
  for (int i = 0; i < 300; ++i) d.Update(noise(rng));
  EXPECT_EQ(d.Update(-1.5), 1);
}

TEST(AnomalyDetectorTest, BrokenDailyPatternIsSeenThroughSeasonality) {
  // A cycle of 100 readings; after 3000 readings it stays at its mean (like NAB's
  // art_daily_flatmiddle): unremarkable to a mean-based view, obvious against one period ago.
  AnomalyDetector d;
  std::vector<float> cycle = Sine(6000, 100, 0.3, 5);
  double quiet = 0, broken = 0;
  for (size_t i = 0; i < 3300; ++i) {
    double s = d.Update(i < 3000 ? cycle[i] : 0.0);
    if (i >= 1500 && i < 3000) quiet = std::max(quiet, s);
    if (i >= 3000) broken = std::max(broken, s);
  }
  EXPECT_GT(broken, quiet);
  EXPECT_GT(broken, 0.5);
}

TEST(AnomalyDetectorTest, StateStaysUnderFourKiB) {
  AnomalyDetector d;
  std::vector<float> cycle = Sine(20000, 288, 0.5, 9);
  size_t peak = 0;
  for (float v : cycle) {
    d.Update(v);
    peak = std::max(peak, d.bytes());
  }
  EXPECT_LE(peak, 4096u);
}

}  // namespace
}  // namespace edgeway::stream
