#include "edgeway/eval/nab.h"

#include <cmath>

#include "gtest/gtest.h"

namespace edgeway::eval {
namespace {

const Profile& Standard() { return NabProfiles()[0]; }

// 100 rows, one window at rows 50..59 (width 10); probation is the first 15 rows.
ScoredSeries OneWindow() {
  ScoredSeries s;
  s.name = "one";
  s.scores.assign(100, 0.0);
  s.windows = {{50, 59}};
  return s;
}

TEST(NabTest, ScaledSigmoidAndProbation) {
  EXPECT_NEAR(ScaledSigmoid(-1), 2 / (1 + std::exp(-5.0)) - 1, 1e-12);  // 0.98661
  EXPECT_DOUBLE_EQ(ScaledSigmoid(0), 0);
  EXPECT_DOUBLE_EQ(ScaledSigmoid(3.5), -1);
  EXPECT_EQ(ProbationaryRows(100), 15u);
  EXPECT_EQ(ProbationaryRows(10000), 750u);
}

TEST(NabTest, PerfectDetectorScoresOneHundredAndNullZero) {
  ScoredSeries perfect = OneWindow();
  perfect.scores[50] = 1;
  ScoredSeries perfect2 = OneWindow();
  perfect2.windows = {{20, 29}, {70, 89}};
  perfect2.scores[20] = 1;
  perfect2.scores[70] = 1;
  for (const Profile& p : NabProfiles()) {
    CorpusResult r = ScoreCorpus({perfect, perfect2}, p);
    EXPECT_NEAR(r.normalized, 100, 1e-9) << p.name;
    EXPECT_DOUBLE_EQ(r.perfect, 3 * p.tp_weight);
    EXPECT_DOUBLE_EQ(r.null_score, -3 * p.fn_weight);
  }
  CorpusResult null = ScoreCorpus({OneWindow()}, Standard());
  EXPECT_NEAR(null.normalized, 0, 1e-9);
  EXPECT_DOUBLE_EQ(null.raw, -1);
}

TEST(NabTest, LateDetectionEarnsLess) {
  ScoredSeries s = OneWindow();
  s.scores[55] = 1;
  SeriesResult r = ScoreSeries(s, 0.5, Standard());
  // position -(59 - 55 + 1) / 10 = -0.5: S(-0.5) / S(-1) = 0.848284 / 0.986614
  double expected = (2 / (1 + std::exp(-2.5)) - 1) / (2 / (1 + std::exp(-5.0)) - 1);
  EXPECT_NEAR(r.score, expected, 1e-12);
  EXPECT_NEAR(r.score, 0.859793, 1e-6);
  EXPECT_EQ(r.true_positives, 1);
  EXPECT_EQ(r.false_negatives, 0);
}

TEST(NabTest, OnlyTheEarliestDetectionInAWindowCounts) {
  ScoredSeries s = OneWindow();
  s.scores[50] = s.scores[51] = s.scores[59] = 1;
  SeriesResult r = ScoreSeries(s, 0.5, Standard());
  EXPECT_NEAR(r.score, 1.0, 1e-12);
  EXPECT_EQ(r.true_positives, 1);
  EXPECT_EQ(r.false_positives, 0);
}

TEST(NabTest, FalsePositivesByDistanceAndBeforeTheFirstWindow) {
  ScoredSeries s = OneWindow();
  s.scores[64] = 1;  // (64 - 59) / (10 - 1) = 5/9 past the window
  s.scores[20] = 1;  // before any window: -fp
  s.scores[10] = 1;  // probationary: ignored
  SeriesResult r = ScoreSeries(s, 0.5, Standard());
  double fp_after = 0.11 * (2 / (1 + std::exp(5.0 * 5 / 9)) - 1);  // 0.11 * -0.88293
  EXPECT_NEAR(fp_after, -0.0971, 1e-4);
  EXPECT_NEAR(r.score, fp_after - 0.11 - 1.0, 1e-12);  // and the missed window
  EXPECT_EQ(r.false_positives, 2);
  EXPECT_EQ(r.false_negatives, 1);
}

TEST(NabTest, ThresholdSweepFindsTheSeparatingThreshold) {
  // High scores early in the window, middling noise elsewhere: the best threshold lies between.
  ScoredSeries s = OneWindow();
  for (size_t i = 0; i < 100; ++i) s.scores[i] = 0.3 + 0.001 * static_cast<double>(i % 7);
  s.scores[51] = 0.9;
  CorpusResult r = ScoreCorpus({s}, Standard());
  EXPECT_GT(r.threshold, 0.31);
  EXPECT_LE(r.threshold, 0.9);
  double expected_raw = (2 / (1 + std::exp(-4.5)) - 1) / (2 / (1 + std::exp(-5.0)) - 1);
  EXPECT_NEAR(r.raw, expected_raw, 1e-12);
  EXPECT_NEAR(r.normalized, 100 * (expected_raw + 1) / 2, 1e-9);
}

TEST(NabTest, CopiesWeighASeriesAsIfItWereThereThatManyTimes) {
  ScoredSeries caught = OneWindow();
  caught.scores[55] = 0.8;
  caught.scores[80] = 0.4;  // a false positive the lower thresholds pay for
  ScoredSeries other = OneWindow();
  other.scores[52] = 0.3;
  const ThresholdSweep sweep = SweepThresholds({caught, other}, Standard());
  const CorpusResult twice = BestThreshold(sweep, {2, 0});
  const CorpusResult direct = ScoreCorpus({caught, caught}, Standard());
  EXPECT_DOUBLE_EQ(twice.raw, direct.raw);
  EXPECT_DOUBLE_EQ(twice.threshold, direct.threshold);
  EXPECT_DOUBLE_EQ(twice.normalized, direct.normalized);
  // Both series once: the threshold must come down to 0.3 to catch the second window.
  const CorpusResult both = BestThreshold(sweep);
  EXPECT_DOUBLE_EQ(both.threshold, 0.3);
  EXPECT_DOUBLE_EQ(both.raw, ScoreCorpus({caught, other}, Standard()).raw);
}

TEST(NabTest, ScoreAtAGivenThresholdForPartOfACorpus) {
  ScoredSeries caught = OneWindow();
  caught.scores[55] = 0.8;
  caught.scores[80] = 0.4;
  ScoredSeries other = OneWindow();
  other.scores[52] = 0.3;
  const ThresholdSweep sweep = SweepThresholds({caught, other}, Standard());
  // At 0.5 `other` misses its window (-1) and `caught` has no false positive; 0.45 is no
  // candidate, so the next one up, 0.8, is used: the same.
  for (double threshold : {0.5, 0.45}) {
    const CorpusResult r = ScoreAtThreshold(sweep, threshold);
    EXPECT_DOUBLE_EQ(r.threshold, 0.8);
    EXPECT_DOUBLE_EQ(r.raw, ScoreSeries(caught, 0.8, Standard()).score - 1);
    EXPECT_DOUBLE_EQ(r.null_score, -2);
    EXPECT_DOUBLE_EQ(r.perfect, 2);
  }
  // `caught` alone at 0.3 pays for its false positive; at its best threshold (0.8) it does not.
  const CorpusResult alone = ScoreAtThreshold(sweep, 0.3, {1, 0});
  EXPECT_DOUBLE_EQ(alone.raw, ScoreSeries(caught, 0.3, Standard()).score);
  EXPECT_LT(alone.raw, BestThreshold(sweep, {1, 0}).raw);
}

TEST(NabTest, ResamplingSeriesSpreadsTheScoreByHowTheyDiffer) {
  ScoredSeries perfect = OneWindow();
  perfect.scores[50] = 1;
  // Alike series: every resample is the corpus itself.
  const ThresholdSweep alike = SweepThresholds({perfect, perfect, perfect}, Standard());
  const ScoreInterval same = BootstrapSeries(alike, 200, 1);
  EXPECT_NEAR(same.low, 100, 1e-9);
  EXPECT_NEAR(same.high, 100, 1e-9);
  // A perfect and a null series: two perfect copies score 100 (a quarter of the draws), two null
  // ones 0 (a quarter), one of each 50.
  const ThresholdSweep apart = SweepThresholds({perfect, OneWindow()}, Standard());
  const ScoreInterval spread = BootstrapSeries(apart, 1000, 1);
  EXPECT_NEAR(spread.low, 0, 1e-9);
  EXPECT_NEAR(spread.median, 50, 1e-9);
  EXPECT_NEAR(spread.high, 100, 1e-9);
  const ScoreInterval again = BootstrapSeries(apart, 1000, 1);
  EXPECT_EQ(again.median, spread.median);
  // Series without windows alone give no score to resample.
  ScoredSeries quiet = OneWindow();
  quiet.windows.clear();
  const ScoreInterval none = BootstrapSeries(SweepThresholds({quiet}, Standard()), 100, 1);
  EXPECT_EQ(none.low, 0);
  EXPECT_EQ(none.high, 0);
}

}  // namespace
}  // namespace edgeway::eval
