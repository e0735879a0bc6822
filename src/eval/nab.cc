#include "edgeway/eval/nab.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace edgeway::eval {

const std::array<Profile, 3>& NabProfiles() {
  static const std::array<Profile, 3> kProfiles = {{
      {"standard", 1.0, 0.11, 1.0},
      {"reward_low_FP_rate", 1.0, 0.22, 1.0},
      {"reward_low_FN_rate", 1.0, 0.11, 2.0},
  }};
  return kProfiles;
}

size_t ProbationaryRows(size_t rows) {
  return std::min<size_t>(static_cast<size_t>(std::floor(0.15 * static_cast<double>(rows))), 750);
}

double ScaledSigmoid(double x) {
  if (x > 3.0) return -1.0;
  return 2.0 / (1.0 + std::exp(5.0 * x)) - 1.0;
}

SeriesResult ScoreSeries(const ScoredSeries& s, double threshold, const Profile& p) {
  SeriesResult r;
  const size_t probation = ProbationaryRows(s.scores.size());
  const double max_tp = ScaledSigmoid(-1.0);
  size_t w = 0;  // the next window not yet passed
  bool in_window_detected = false;
  std::vector<bool> detected(s.windows.size(), false);
  for (size_t i = 0; i < s.scores.size(); ++i) {
    while (w < s.windows.size() && i > s.windows[w].second) {
      ++w;
      in_window_detected = false;
    }
    const bool inside = w < s.windows.size() && i >= s.windows[w].first;
    if (i < probation || s.scores[i] < threshold) continue;
    if (inside) {
      if (in_window_detected) continue;  // only the earliest detection in a window counts
      in_window_detected = true;
      detected[w] = true;
      const auto [left, right] = s.windows[w];
      const double width = static_cast<double>(right - left + 1);
      const double position = -static_cast<double>(right - i + 1) / width;
      r.score += p.tp_weight * ScaledSigmoid(position) / max_tp;
      ++r.true_positives;
    } else if (w > 0) {
      const auto [left, right] = s.windows[w - 1];
      const double width = static_cast<double>(right - left + 1);
      const double past = static_cast<double>(i - right) / std::max(width - 1, 1.0);
      r.score += p.fp_weight * ScaledSigmoid(past);
      ++r.false_positives;
    } else {
      r.score -= p.fp_weight;
      ++r.false_positives;
    }
  }
  for (bool d : detected) {
    if (!d) {
      r.score -= p.fn_weight;
      ++r.false_negatives;
    }
  }
  return r;
}

std::vector<double> CandidateThresholds(const std::vector<ScoredSeries>& corpus) {
  std::vector<double> all;
  for (const ScoredSeries& s : corpus) all.insert(all.end(), s.scores.begin(), s.scores.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::vector<double> candidates;
  if (all.size() <= 4000) {
    candidates = std::move(all);
  } else {
    for (size_t q = 0; q < 2000; ++q) candidates.push_back(all[q * (all.size() - 1) / 1999]);
    candidates.insert(candidates.end(), all.end() - 2000, all.end());
  }
  candidates.push_back(1.1);
  return candidates;
}

ThresholdSweep SweepThresholds(const std::vector<ScoredSeries>& corpus, const Profile& profile,
                               std::vector<double> thresholds) {
  ThresholdSweep sweep{
      .thresholds = thresholds.empty() ? CandidateThresholds(corpus) : std::move(thresholds),
      .profile = profile};
  for (const ScoredSeries& s : corpus) {
    std::vector<double>& raw = sweep.raw.emplace_back();
    raw.reserve(sweep.thresholds.size());
    for (double t : sweep.thresholds) raw.push_back(ScoreSeries(s, t, profile).score);
    sweep.windows.push_back(s.windows.size());
  }
  return sweep;
}

namespace {

// The corpus' raw score at every candidate threshold; its null and perfect scores into `result`.
std::vector<double> Totals(const ThresholdSweep& sweep, const std::vector<size_t>& copies,
                           CorpusResult* result) {
  std::vector<double> total(sweep.thresholds.size(), 0.0);
  for (size_t i = 0; i < sweep.raw.size(); ++i) {
    const auto n = static_cast<double>(copies.empty() ? 1 : copies[i]);
    if (n == 0) continue;
    result->null_score -= n * sweep.profile.fn_weight * static_cast<double>(sweep.windows[i]);
    result->perfect += n * sweep.profile.tp_weight * static_cast<double>(sweep.windows[i]);
    for (size_t t = 0; t < total.size(); ++t) total[t] += n * sweep.raw[i][t];
  }
  return total;
}

// `result` at candidate threshold `t`, with `total` from Totals.
CorpusResult At(const ThresholdSweep& sweep, const std::vector<double>& total, size_t t,
                CorpusResult result) {
  result.raw = total[t];
  result.threshold = sweep.thresholds[t];
  const double span = result.perfect - result.null_score;
  result.normalized = span > 0 ? 100.0 * (result.raw - result.null_score) / span : 0;
  return result;
}

}  // namespace

CorpusResult BestThreshold(const ThresholdSweep& sweep, const std::vector<size_t>& copies) {
  CorpusResult result;
  const std::vector<double> total = Totals(sweep, copies, &result);
  const auto top = std::max_element(total.begin(), total.end());  // the first (lowest) best
  return At(sweep, total, static_cast<size_t>(top - total.begin()), result);
}

CorpusResult ScoreAtThreshold(const ThresholdSweep& sweep, double threshold,
                              const std::vector<size_t>& copies) {
  CorpusResult result;
  const std::vector<double> total = Totals(sweep, copies, &result);
  auto at = std::lower_bound(sweep.thresholds.begin(), sweep.thresholds.end(), threshold);
  if (at == sweep.thresholds.end()) --at;  // above every candidate: the highest, no detection
  return At(sweep, total, static_cast<size_t>(at - sweep.thresholds.begin()), result);
}

CorpusResult ScoreCorpus(const std::vector<ScoredSeries>& corpus, const Profile& profile) {
  return BestThreshold(SweepThresholds(corpus, profile));
}

ScoreInterval BootstrapSeries(const ThresholdSweep& sweep, size_t resamples, uint64_t seed) {
  const size_t n = sweep.raw.size();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<double> scores;
  std::vector<size_t> copies(n);
  for (size_t r = 0; r < resamples && n > 0; ++r) {
    std::fill(copies.begin(), copies.end(), 0);
    size_t windows = 0;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = pick(rng);
      ++copies[i];
      windows += sweep.windows[i];
    }
    if (windows > 0) scores.push_back(BestThreshold(sweep, copies).normalized);  // else no score
  }
  if (scores.empty()) return {};
  std::sort(scores.begin(), scores.end());
  auto at = [&](double q) {
    return scores[static_cast<size_t>(q * static_cast<double>(scores.size() - 1) + 0.5)];
  };
  return {at(0.05), at(0.5), at(0.95)};
}

}  // namespace edgeway::eval
