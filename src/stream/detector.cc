#include "edgeway/stream/detector.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>

namespace edgeway::stream {
namespace {

// -log10 of the upper tail probability of a standard normal at u, without cancellation.
double NegLog10Tail(double u) {
  double tail = 0.5 * std::erfc(u / std::sqrt(2.0));
  if (tail > 0) return -std::log10(tail);
  // Beyond what a double holds: the asymptote log10(phi(u) / u).
  return (u * u / 2 + std::log(u * std::sqrt(2 * std::numbers::pi))) / std::log(10.0);
}

// No detector judges before this many readings: the spread is not known yet.
constexpr uint64_t kMinReadings = 16;

// While learning the period, readings are kept as means of pairs (periods are found to within a
// reading), less the first reading, as bfloat16: the upper half of a float, 8 significant bits,
// ample for an autocorrelation. A quarter of the memory of the readings as doubles.
constexpr size_t kLearnGroup = 2;

uint16_t ToBfloat16(float f) {
  return static_cast<uint16_t>((std::bit_cast<uint32_t>(f) + 0x8000u) >> 16);  // to nearest
}

float FromBfloat16(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

}  // namespace

size_t DetectSeasonality(const std::vector<float>& values, size_t min_period, size_t max_period,
                         double min_acf, double min_prominence) {
  const size_t n = values.size();
  if (n < 12) return 0;
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(n);
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  if (var <= 0) return 0;
  max_period = std::min(max_period, n / 3);
  // Each lag's covariance over the pairs it has (n - lag of them), so that long periods are not
  // handicapped against their own divisors: a weekly cycle correlates better than a daily one
  // when weekends differ, though over fewer pairs.
  std::vector<double> acf(max_period + 2, 0.0);
  for (size_t lag = 1; lag <= max_period + 1; ++lag) {
    double c = 0;
    for (size_t i = lag; i < n; ++i) c += (values[i] - mean) * (values[i - lag] - mean);
    acf[lag] = (c / static_cast<double>(n - lag)) / (var / static_cast<double>(n));
  }
  // The lowest autocorrelation at each lag or a shorter one: a period's peak rises above it.
  std::vector<double> trough(acf.size());
  trough[1] = acf[1];
  for (size_t lag = 2; lag < acf.size(); ++lag) trough[lag] = std::min(trough[lag - 1], acf[lag]);
  auto peak = [&](size_t lag) {
    return acf[lag] >= min_acf && acf[lag] - trough[lag] >= min_prominence &&
           acf[lag] >= acf[lag - 1] && acf[lag] >= acf[lag + 1];
  };
  const size_t first = std::max<size_t>(min_period, 2);
  double best_acf = -1;
  for (size_t lag = first; lag <= max_period; ++lag) {
    if (peak(lag)) best_acf = std::max(best_acf, acf[lag]);
  }
  // Every multiple of a period correlates as well as the period itself, give or take the
  // estimate's noise (about 1 / sqrt(n)): the shortest peak within that margin of the best.
  const double margin = 1 / std::sqrt(static_cast<double>(n));
  size_t best = 0;
  for (size_t lag = first; lag <= max_period && best == 0; ++lag) {
    if (peak(lag) && acf[lag] >= best_acf - margin) best = lag;
  }
  if (best == 0) return 0;
  // A long period has a broad peak, and noise puts small local peaks on its rise: the first one
  // within the margin comes early (a noisy daily cycle of 288 readings was found at 270-280).
  // The period is the highest autocorrelation of the hump that first peak is on: while the
  // autocorrelation stays above halfway from the trough before it, and no further than halfway
  // to the next multiple.
  const double half = (acf[best] + trough[best]) / 2;
  const size_t hump_end = std::min(max_period, best + best / 2);
  for (size_t lag = best + 1, top = best; lag <= hump_end && acf[lag] >= half; ++lag) {
    if (acf[lag] > acf[top]) best = top = lag;
  }
  return best;
}

double PatternMemory::Update(double value, double range, double vigilance, double rate) {
  std::copy(last_.begin() + 1, last_.end(), last_.begin());
  last_.back() = static_cast<float>(value);
  if (seen_ < kDims) ++seen_;
  if (seen_ < kDims) return -1;
  // A series flat so far has no range to measure shapes by: the pattern's own spread is the
  // scale, so that its first change is learnt as a shape (a square wave's rising edge, an
  // on/off schedule's first switch), not met as new at its second.
  if (range <= 0) {
    const auto [lo, hi] = std::minmax_element(last_.begin(), last_.end());
    range = *hi - *lo;
    if (range <= 0) return -1;
  }
  ++clock_;
  size_t nearest = kPatterns;
  double nearest_sum = INFINITY;
  for (size_t k = 0; k < size_; ++k) {
    double sum = 0;
    for (size_t i = 0; i < kDims; ++i) sum += std::abs(last_[i] - prototypes_[k][i]);
    if (sum < nearest_sum) {
      nearest_sum = sum;
      nearest = k;
    }
  }
  const double distance = nearest < kPatterns ? std::min(1.0, nearest_sum / kDims / range) : 1.0;
  if (distance > vigilance) {
    size_t slot = size_;
    if (size_ < kPatterns) {
      ++size_;
    } else {
      slot = static_cast<size_t>(std::min_element(matched_at_.begin(), matched_at_.end()) -
                                 matched_at_.begin());
    }
    prototypes_[slot] = last_;
    matched_at_[slot] = clock_;
  } else {
    for (size_t i = 0; i < kDims; ++i)
      prototypes_[nearest][i] += static_cast<float>(rate * (last_[i] - prototypes_[nearest][i]));
    matched_at_[nearest] = clock_;
  }
  return distance;
}

void PatternMemory::Save(StateWriter* out) const {
  for (float x : last_) out->Put(x);
  out->Put<uint64_t>(seen_);
  out->Put<uint64_t>(size_);
  out->Put(clock_);
  for (size_t k = 0; k < size_; ++k) {
    for (float x : prototypes_[k]) out->Put(x);
    out->Put(matched_at_[k]);
  }
}

bool PatternMemory::Restore(StateReader* in) {
  for (float& x : last_) {
    if (!in->Get(&x)) return false;
  }
  if (!in->GetIndex(&seen_, kDims + 1) || !in->GetIndex(&size_, kPatterns + 1) ||
      !in->Get(&clock_)) {
    return false;
  }
  for (size_t k = 0; k < size_; ++k) {
    for (float& x : prototypes_[k]) {
      if (!in->Get(&x)) return false;
    }
    if (!in->Get(&matched_at_[k])) return false;
  }
  return true;
}

AnomalyDetector::AnomalyDetector(const DetectorOptions& options)
    : options_(options), recent_(std::max<size_t>(options.recent, 1), 0.0) {
  ring_.reserve(options.median_window);
  sorted_.reserve(options.median_window);
  learn_.reserve(options.season_learn / kLearnGroup);
}

size_t AnomalyDetector::bytes() const {
  return sizeof(*this) + (ring_.capacity() + sorted_.capacity()) * sizeof(float) +
         recent_.capacity() * sizeof(double) + learn_.capacity() * sizeof(uint16_t) +
         season_.capacity() * sizeof(float);
}

void AnomalyDetector::Save(StateWriter* out) const {
  out->Put(count_);
  out->PutVector(ring_);  // sorted_ is its sorted copy
  out->Put<uint64_t>(next_);
  for (double x : {mean_, var_, cusum_up_, cusum_down_}) out->Put(x);
  out->PutVector(recent_);
  out->Put<uint64_t>(recent_next_);
  for (double x : {recent_sum_, surprise_mean_, surprise_var_}) out->Put(x);
  out->Put(surprise_count_);
  out->PutVector(learn_);
  for (double x : {learn_origin_, learn_sum_}) out->Put(x);
  out->Put<uint64_t>(learn_pending_);
  out->Put<uint64_t>(period_);
  out->PutVector(season_);
  out->Put<uint64_t>(season_next_);
  for (double x : {season_scale_, hw_level_, hw_trend_, season_sum_}) out->Put(x);
  out->PutBool(counts_);
  for (const Extreme& e : {high_, low_}) {
    out->Put(e.seen);
    out->Put(e.once);
    out->PutBool(e.has_once);
  }
  out->Put(left_);
  for (float x : delayed_) out->Put(x);
  out->Put<uint64_t>(delayed_next_);
  out->Put(step_);
  out->PutBool(novel_);
  patterns_.Save(out);
  out->Put(last_report_);
  out->Put(last_report_at_);
  out->Put(quiet_);
}

bool AnomalyDetector::Restore(StateReader* in) { return RestoreLayout(in, true); }

bool AnomalyDetector::RestoreVersion2(StateReader* in) { return RestoreLayout(in, false); }

bool AnomalyDetector::RestoreLayout(StateReader* in, bool with_once) {
  const size_t window = std::max<size_t>(options_.median_window, 1);
  const size_t recent = recent_.size();  // as the options made it
  bool ok =
      in->Get(&count_) && in->GetVector(&ring_, options_.median_window) &&
      in->GetIndex(&next_, window) && in->Get(&mean_) && in->Get(&var_) && in->Get(&cusum_up_) &&
      in->Get(&cusum_down_) && in->GetVector(&recent_, recent) && recent_.size() == recent &&
      in->GetIndex(&recent_next_, recent) && in->Get(&recent_sum_) && in->Get(&surprise_mean_) &&
      in->Get(&surprise_var_) && in->Get(&surprise_count_) &&
      in->GetVector(&learn_, options_.season_learn / kLearnGroup) && in->Get(&learn_origin_) &&
      in->Get(&learn_sum_) && in->GetIndex(&learn_pending_, kLearnGroup) &&
      in->GetIndex(&period_, options_.season_max_period + 1) && in->GetVector(&season_, period_) &&
      in->GetIndex(&season_next_, std::max<size_t>(period_, 1)) && in->Get(&season_scale_) &&
      in->Get(&hw_level_) && in->Get(&hw_trend_) && in->Get(&season_sum_) && in->GetBool(&counts_);
  if (with_once) {
    for (Extreme* e : {&high_, &low_})
      ok = ok && in->Get(&e->seen) && in->Get(&e->once) && in->GetBool(&e->has_once);
    ok = ok && in->Get(&left_);
  } else {
    // The range as min and max, and no levels read once; a value within it left last.
    double lowest = 0, highest = 0;
    ok = ok && in->Get(&lowest) && in->Get(&highest);
    high_ = {.seen = highest};
    low_ = {.seen = -lowest};
    left_ = (lowest + highest) / 2;
  }
  for (float& x : delayed_) ok = ok && in->Get(&x);
  ok = ok && in->GetIndex(&delayed_next_, kRangeDelay) && in->Get(&step_) && in->GetBool(&novel_) &&
       patterns_.Restore(in) && in->Get(&last_report_) && in->Get(&last_report_at_) &&
       in->Get(&quiet_);
  if (!ok) return false;
  sorted_ = ring_;
  std::sort(sorted_.begin(), sorted_.end());
  return true;
}

double AnomalyDetector::RobustZ(double value) const {
  const size_t n = sorted_.size();
  if (n < 3) return 0;
  const double median = n % 2 ? sorted_[n / 2] : 0.5 * (sorted_[n / 2 - 1] + sorted_[n / 2]);
  // MAD: the median of |v - median|, from the sorted window by a merge from the median outwards.
  size_t lo = n / 2, hi = n / 2;  // next candidates below (lo - 1) and above (hi)
  double mad = 0;
  for (size_t k = 0; k <= n / 2; ++k) {
    double below = lo > 0 ? median - sorted_[lo - 1] : INFINITY;
    double above = hi < n ? sorted_[hi] - median : INFINITY;
    if (below <= above) {
      mad = below;
      --lo;
    } else {
      mad = above;
      ++hi;
    }
  }
  // A floor relative to the level keeps quantised or flat series from infinite scores.
  const double scale = std::max(1.4826 * mad, 1e-6 * std::max(1.0, std::abs(median)));
  return std::abs(value - median) / scale;
}

void AnomalyDetector::LearnPeriod(double value) {
  if (options_.season_learn == 0) return;  // no seasonal view wanted
  if (learn_.empty() && learn_pending_ == 0) learn_origin_ = value;
  learn_sum_ += value - learn_origin_;
  if (++learn_pending_ == kLearnGroup) {
    learn_.push_back(ToBfloat16(static_cast<float>(learn_sum_ / kLearnGroup)));
    learn_sum_ = 0;
    learn_pending_ = 0;
  }
  if (learn_.size() * kLearnGroup >= options_.season_learn) {
    std::vector<float> learnt(learn_.size());
    std::transform(learn_.begin(), learn_.end(), learnt.begin(), FromBfloat16);
    // Lags count groups here; the period in readings is kLearnGroup times the lag.
    const size_t lag = DetectSeasonality(learnt, 2, options_.season_max_period / kLearnGroup,
                                         options_.season_min_acf, options_.season_min_prominence);
    period_ = kLearnGroup * lag;
    if (period_ > 0) {
      double scale = 0;
      for (size_t i = lag; i < learnt.size(); ++i) scale += std::abs(learnt[i] - learnt[i - lag]);
      season_scale_ = scale / static_cast<double>(learnt.size() - lag);
      std::vector<uint16_t>().swap(learn_);  // freed (not just cleared) before the history
                                             // is allocated: state stays under 4 KiB
      // The first period after learning fills the history with real readings.
      season_.reserve(period_);
    } else {
      learn_.clear();  // no period: learn again from the next readings, in the same memory
    }
  }
}

double AnomalyDetector::SeasonalZ(double value) {
  if (period_ == 0) {
    LearnPeriod(value);
    return -1;  // no seasonal view (yet)
  }
  if (season_.size() < period_) {
    season_.push_back(static_cast<float>(value));
    if (season_.size() == period_) {
      // Additive Holt-Winters from the first whole period: the level is its mean, the seasonal
      // components the deviations from it, no trend yet.
      double sum = 0;
      for (float v : season_) sum += v;
      hw_level_ = sum / static_cast<double>(period_);
      for (float& v : season_) {
        v = static_cast<float>(v - hw_level_);
        season_sum_ += v;
      }
    }
    return -1;
  }
  const double seasonal = season_[season_next_];
  const double forecast = hw_level_ + hw_trend_ + seasonal;
  // The seasonal components need not sum to 0: the mean forecast over a period is the level,
  // the trend and their mean.
  double noise_ratio = 1;
  const double mean_forecast = hw_level_ + hw_trend_ + season_sum_ / static_cast<double>(period_);
  if (options_.poisson_counts && counts_ && mean_forecast > 0)
    noise_ratio = std::clamp(std::sqrt(std::max(forecast, 0.0) / mean_forecast), 0.25, 4.0);
  const double diff = std::abs(value - forecast) / noise_ratio;
  const double sd = std::max(1.25 * season_scale_, SpreadFloor(value));
  const double z = diff / sd;
  // What the forecast learns from: the reading within learn_clip sd of it.
  const double bound = options_.learn_clip * sd * noise_ratio;
  value = std::clamp(value, forecast - bound, forecast + bound);
  season_scale_ += 0.01 * (std::min(diff, options_.learn_clip * sd) - season_scale_);
  const double level =
      options_.hw_alpha * (value - seasonal) + (1 - options_.hw_alpha) * (hw_level_ + hw_trend_);
  hw_trend_ = options_.hw_beta * (level - hw_level_) + (1 - options_.hw_beta) * hw_trend_;
  hw_level_ = level;
  season_[season_next_] =
      static_cast<float>(options_.hw_gamma * (value - level) + (1 - options_.hw_gamma) * seasonal);
  season_sum_ += season_[season_next_] - seasonal;
  season_next_ = (season_next_ + 1) % period_;
  return z;
}

double AnomalyDetector::Update(double value) {
  // Surprise of this value against the state built from the values before it.
  double surprise = 0;
  if (count_ >= kMinReadings) {
    const double sd = std::sqrt(std::max(var_, 1e-12 * std::max(1.0, mean_ * mean_)));
    const double z_ewma = std::abs(value - mean_) / sd;
    const double z_robust = RobustZ(value);
    const double r = std::clamp((value - mean_) / sd, -options_.cusum_clip, options_.cusum_clip);
    cusum_up_ = std::max(0.0, cusum_up_ + r - options_.cusum_slack);
    cusum_down_ = std::max(0.0, cusum_down_ - r - options_.cusum_slack);
    const double z_cusum = std::max(cusum_up_, cusum_down_) / 4;  // 4 sd of drift ~ one z
    // The detectors disagree on what is normal; the least surprised one speaks for all, so a
    // single noisy estimate does not raise alarms, but each catches what the others miss in its
    // own way: the robust z sees spikes the EWMA has absorbed, the CUSUM sees slow shifts.
    surprise = std::min(std::max(z_robust, z_cusum), std::max(z_ewma, z_cusum));
    // In a seasonal series the level swings every period: the Holt-Winters forecast (level,
    // trend, the seasonal component of this point of the period) is the better reference, and
    // it also sees a broken pattern that stays near the mean.
    const double z_season = SeasonalZ(value);
    if (z_season >= 0) surprise = z_season;
    surprise = std::tanh(surprise / options_.surprise_scale);
    // A shape the series has taken before is no news, however far from the recent mean it is.
    const double distance =
        patterns_.Update(value, max() - min(), options_.pattern_vigilance, options_.pattern_rate);
    if (distance >= 0) surprise *= std::min(1.0, distance / options_.pattern_vigilance);
  }

  // A value outside everything seen until kRangeDelay readings ago (so that a drift past the
  // range is measured from where the range stood before the drift), by more than the tolerance
  // and the noise: the mean absolute step between readings, which a trend does not inflate, as
  // a standard deviation.
  novel_ = false;
  fault_code_ = false;
  if (count_ == 0) {
    high_ = {.seen = value};
    low_ = {.seen = -value};
  } else {
    const double noise = step_ / (2 / std::sqrt(std::numbers::pi));  // E|x - x'| = 2 sd / sqrt(pi)
    const double width = max() - min();
    const double tolerance = std::max(options_.novel_tolerance * width, noise);
    novel_ = count_ >= options_.warmup && max() > min() &&
             (high_.Novel(value, tolerance, width) || low_.Novel(-value, tolerance, width));
    fault_code_ = novel_ && (high_.Code(value, width) || low_.Code(-value, width));
    // A step of at most learn_clip mean steps: a glitch's two steps would widen the tolerance for
    // a hundred readings. The floor, relative to the value, lets a series that was flat learn
    // its noise when it starts to vary (by a third each reading) rather than stay at none.
    double step = std::abs(value - delayed_[(delayed_next_ + kRangeDelay - 1) % kRangeDelay]);
    if (count_ >= kMinReadings) {
      step = std::min(step, options_.learn_clip * std::max(step_, SpreadFloor(value)));
    }
    step_ += std::max(options_.ewma_alpha, 1.0 / static_cast<double>(count_)) * (step - step_);
    if (count_ >= kRangeDelay) {
      // The value leaving the delay, and its neighbours: the one that left before it, the one
      // after it. The first kMinReadings are all taken in: the noise is not known yet.
      const double v = delayed_[delayed_next_];
      const double next = delayed_[(delayed_next_ + 1) % kRangeDelay];
      const bool young = count_ < kMinReadings;
      high_.Admit(v, young || left_ > max() || next > max(), tolerance, width);
      low_.Admit(-v, young || left_ < min() || next < min(), tolerance, width);
      left_ = v;
    }
  }
  delayed_[delayed_next_] = static_cast<float>(value);
  delayed_next_ = (delayed_next_ + 1) % kRangeDelay;

  // Update the state with the value.
  counts_ = counts_ && value >= 0 && value == std::floor(value);
  ++count_;
  // Exact running mean and variance at first (weight 1/n), exponential once 1/n < alpha.
  const double a = std::max(options_.ewma_alpha, 1.0 / static_cast<double>(count_));
  const double dv = value - mean_;
  mean_ += a * dv;
  var_ = (1 - a) * (var_ + a * dv * dv);
  const size_t w = options_.median_window;
  const auto stored = static_cast<float>(value);
  if (ring_.size() < w) {
    ring_.push_back(stored);
  } else {
    const float old = ring_[next_];
    ring_[next_] = stored;
    next_ = (next_ + 1) % w;
    sorted_.erase(std::lower_bound(sorted_.begin(), sorted_.end(), old));
  }
  sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), stored), stored);

  // Likelihood: the recent average surprise against the long-run distribution of surprise.
  const size_t m = recent_.size();
  recent_sum_ += surprise - recent_[recent_next_];
  recent_[recent_next_] = surprise;
  recent_next_ = (recent_next_ + 1) % m;
  const double recent_mean = recent_sum_ / static_cast<double>(m);
  double score = 0;
  if (count_ > options_.warmup && surprise_count_ > 0) {
    // A floor on the spread: in a very regular series the surprise barely varies, and a change
    // of a tenth is no evidence of anything.
    const double sd = std::sqrt(std::max(surprise_var_, 0.01));
    // The average of m draws spreads sqrt(m) times less than one draw.
    const double u = (recent_mean - surprise_mean_) / (sd / std::sqrt(static_cast<double>(m)));
    // -log10(tail) / score_decades, capped at 1. An event whose likelihood keeps growing is
    // reported again only when it doubles (the escalation of the refractory rule).
    if (u > 0) score = std::min(1.0, NegLog10Tail(u) / options_.score_decades);
  }
  const double h = std::max(options_.history_alpha, 1.0 / static_cast<double>(++surprise_count_));
  const double d = surprise - surprise_mean_;
  surprise_mean_ += h * d;
  surprise_var_ = (1 - h) * (surprise_var_ + h * d * d);
  if (novel_) score = 1;
  return Refractory(score);
}

bool AnomalyDetector::Extreme::Code(double x, double width) const {
  return has_once && static_cast<float>(x) == static_cast<float>(once) && once - seen > width;
}

bool AnomalyDetector::Extreme::Novel(double x, double tolerance, double width) const {
  if (x <= seen + tolerance) return false;
  if (Code(x, width)) return true;
  return !(has_once && x >= seen + (once - seen) / 2 && x <= once + tolerance);
}

void AnomalyDetector::Extreme::Admit(double x, bool lasting, double tolerance, double width) {
  if (x <= seen) return;
  if (lasting || x <= seen + tolerance) {
    seen = x;
    if (has_once && once <= seen) has_once = false;
  } else if (!has_once || x > once + tolerance) {
    once = x;
    has_once = true;
  } else if (Code(x, width)) {
    // A fault code: it never joins.
  } else if (x >= seen + (once - seen) / 2) {
    seen = std::max(x, once);
    has_once = false;
  }  // else a lone level below half of the one held: neither joins the range
}

double AnomalyDetector::Refractory(double score) {
  quiet_ = score >= options_.rearm_below ? 0 : quiet_ + 1;
  if (count_ - last_report_at_ > options_.refractory || quiet_ >= options_.rearm) last_report_ = 0;
  if (score < options_.report_at || score <= options_.escalation * last_report_) return 0;
  last_report_ = score;
  last_report_at_ = count_;
  return score;
}

}  // namespace edgeway::stream
