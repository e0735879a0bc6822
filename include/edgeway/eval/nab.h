#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace edgeway::eval {

// The Numenta Anomaly Benchmark's scoring, reimplemented from its definition (see
// ../shared/data/nab/README.md): probationary period, scaled-sigmoid rewards for the earliest
// detection in each window, penalties for false positives by distance past the previous window,
// one threshold per profile chosen to maximise the corpus score, and normalisation between the
// null detector (0) and the perfect one (100).

struct Profile {
  const char* name;
  double tp_weight;
  double fp_weight;
  double fn_weight;
};
// standard, reward_low_FP_rate, reward_low_FN_rate.
const std::array<Profile, 3>& NabProfiles();

// One series as a detector saw it: a score in [0, 1] per row, and the labelled anomaly windows
// as inclusive row ranges, in order.
struct ScoredSeries {
  std::string name;
  std::vector<double> scores;
  std::vector<std::pair<size_t, size_t>> windows;
};

// Rows at the start of a series whose detections do not count: 15%, at most 750.
size_t ProbationaryRows(size_t rows);

// NAB's scaled sigmoid: 2 / (1 + exp(5x)) - 1, and -1 for x > 3.
double ScaledSigmoid(double x);

struct SeriesResult {
  double score = 0;  // raw, weighted
  int true_positives = 0;
  int false_positives = 0;
  int false_negatives = 0;
};
// The raw score of one series with detections where score >= threshold.
SeriesResult ScoreSeries(const ScoredSeries& series, double threshold, const Profile& profile);

struct CorpusResult {
  double threshold = 1;
  double raw = 0;
  double null_score = 0;
  double perfect = 0;
  double normalized = 0;  // 100 * (raw - null) / (perfect - null)
};
// Sweeps thresholds over the scores the detector produced and keeps the best for `profile`.
CorpusResult ScoreCorpus(const std::vector<ScoredSeries>& corpus, const Profile& profile);

}  // namespace edgeway::eval
