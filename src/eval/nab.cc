#include "edgeway/eval/nab.h"

#include <algorithm>
#include <cmath>

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

CorpusResult ScoreCorpus(const std::vector<ScoredSeries>& corpus, const Profile& profile) {
  CorpusResult best;
  for (const ScoredSeries& s : corpus) {
    best.null_score -= profile.fn_weight * static_cast<double>(s.windows.size());
    best.perfect += profile.tp_weight * static_cast<double>(s.windows.size());
  }
  // Candidate thresholds: every distinct score when there are few, else quantiles plus the
  // highest distinct values (where the best thresholds of good detectors lie), and 1.1 (no
  // detection at all).
  std::vector<double> all;
  for (const ScoredSeries& s : corpus) all.insert(all.end(), s.scores.begin(), s.scores.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::vector<double> candidates;
  if (all.size() <= 4000) {
    candidates = all;
  } else {
    for (size_t q = 0; q < 2000; ++q) candidates.push_back(all[q * (all.size() - 1) / 1999]);
    candidates.insert(candidates.end(), all.end() - 2000, all.end());
  }
  candidates.push_back(1.1);
  best.raw = -INFINITY;
  for (double t : candidates) {
    double raw = 0;
    for (const ScoredSeries& s : corpus) raw += ScoreSeries(s, t, profile).score;
    if (raw > best.raw) {
      best.raw = raw;
      best.threshold = t;
    }
  }
  const double span = best.perfect - best.null_score;
  best.normalized = span > 0 ? 100.0 * (best.raw - best.null_score) / span : 0;
  return best;
}

}  // namespace edgeway::eval
