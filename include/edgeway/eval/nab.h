#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
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

// The thresholds worth trying on a corpus, in increasing order: every distinct score the
// detector produced when there are few, else quantiles plus the highest distinct values (where
// the best thresholds of good detectors lie), and 1.1 (no detection at all). The same for every
// profile.
std::vector<double> CandidateThresholds(const std::vector<ScoredSeries>& corpus);

// The raw score of every series at every candidate threshold, for one profile: what the
// threshold sweep adds up.
struct ThresholdSweep {
  std::vector<double> thresholds;
  std::vector<std::vector<double>> raw;  // [series][threshold]
  std::vector<size_t> windows;           // per series
  Profile profile;
};
// `thresholds` from CandidateThresholds(corpus), computed here when empty.
ThresholdSweep SweepThresholds(const std::vector<ScoredSeries>& corpus, const Profile& profile,
                               std::vector<double> thresholds = {});

// The best threshold for a corpus that holds series i `copies[i]` times (empty: once each).
CorpusResult BestThreshold(const ThresholdSweep& sweep, const std::vector<size_t>& copies = {});

// The same corpus scored at a given threshold instead (the lowest candidate at or above it): how
// one part of a corpus fares at the threshold chosen for the whole.
CorpusResult ScoreAtThreshold(const ThresholdSweep& sweep, double threshold,
                              const std::vector<size_t>& copies = {});

// Sweeps thresholds over the scores the detector produced and keeps the best for `profile`.
CorpusResult ScoreCorpus(const std::vector<ScoredSeries>& corpus, const Profile& profile);

// How much the normalised score owes to which series happen to be in the corpus: the scores of
// `resamples` corpora of the same size drawn from its series with replacement, each at its own
// best threshold as NAB would choose it. Nine in ten corpora of series like these would score
// between `low` and `high`, for a detector not tuned on these very series (one that was should
// expect less on new ones). Deterministic for a given `seed`.
struct ScoreInterval {
  double low = 0;     // 5th percentile
  double median = 0;  // 50th
  double high = 0;    // 95th
};
ScoreInterval BootstrapSeries(const ThresholdSweep& sweep, size_t resamples, uint64_t seed);

}  // namespace edgeway::eval
