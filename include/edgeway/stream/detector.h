#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgeway/stream/state.h"

namespace edgeway::stream {

// Parameters shared by every series: nothing is tuned per file or per sensor.
struct DetectorOptions {
  size_t median_window = 64;     // robust z-score: median and MAD of the last N values
  double ewma_alpha = 0.05;      // EWMA mean and variance of the values
  double cusum_slack = 0.5;      // CUSUM drift allowance, in standard deviations
  double cusum_clip = 3.0;       // CUSUM steps are clipped to +-this many standard deviations,
                                 // so a lone spike is not read as a level shift for an hour
  double surprise_scale = 3.0;   // raw surprise tanh(z / this): bounded, so that past a few
                                 // sigma every spike is alike to the likelihood (the novelty rule
                                 // and the pattern memory judge how far and how familiar)
  size_t warmup = 300;           // readings before the first score above 0: the surprise
                                 // distribution needs a few hundred readings to mean anything
  size_t recent = 8;             // readings in the short-term average of raw surprise
  double history_alpha = 0.002;  // EWMA over raw surprise: its long-run distribution
  // The score is -log10 of the likelihood's tail over `score_decades`, capped at 1.
  double score_decades = 30;
  // An alert is an event, not a state: for `refractory` readings after a reported score, only a
  // score `escalation` times higher is reported (the rest are 0), unless the event is over: for
  // `rearm` readings in a row no score reached `rearm_below` (0.1 is a tail of 1e-3, the
  // three-sigma of a Gaussian). A second spike hours after the first is news again.
  size_t refractory = 200;
  double escalation = 2.0;
  size_t rearm = 32;
  double rearm_below = 0.1;
  // Who reads the scores. 0 for a threshold sweep (offline replay, NAB): an event's scores are
  // reported from its first as they double, so that any threshold tried sees the event about
  // once; but an event whose score passes a threshold by less than a doubling of its last report
  // is not seen there. A reader with one threshold (the gateway's analytics.anomaly_threshold)
  // sets it here: an event is then reported at its first score of at least `report_at`, and after
  // that only as it doubles.
  double report_at = 0;
  // The pattern memory mutes the surprise of a pattern seen before (see PatternMemory): by
  // distance / `pattern_vigilance`, up to 1; a pattern nearer than that to a prototype moves it
  // by `pattern_rate`, a farther one becomes a prototype.
  double pattern_vigilance = 0.05;
  double pattern_rate = 0.1;
  // Seasonality (the seed's detect_seasonality, which it never defined): the period is the
  // shortest autocorrelation peak within the estimate's noise of the strongest (then the top of
  // its hump), over the first `season_learn` readings, between 4 and `season_max_period` readings,
  // if its autocorrelation is at least `season_min_acf` and rises at least `season_min_prominence`
  // above the lowest autocorrelation at a shorter lag; without one, the next `season_learn`
  // readings are tried. A cycle makes the autocorrelation fall and rise again; a series that merely
  // wanders (a load, a temperature) has an autocorrelation that decays slowly with bumps of noise
  // on it, which are not periods. With that guard a weak cycle in noisy traffic counts: the daily
  // rhythm of tweet volumes correlates at 0.45 to 0.52 in the stretches where it is found (in
  // three of NAB's five dev Twitter series; in their first four days it barely shows).
  size_t season_learn = 1200;  // 0: no seasonal view
  size_t season_max_period = 400;
  double season_min_acf = 0.4;
  double season_min_prominence = 0.2;
  // Once the period is known, seasonal series are judged against an additive Holt-Winters
  // forecast: level, trend and one seasonal component per position in the period.
  double hw_alpha = 0.1;  // level
  double hw_beta = 0.01;  // trend
  double hw_gamma = 0.1;  // seasonal components
  // Counts (a series whose every value is a non-negative integer: requests, vehicles, tweets)
  // are Poisson-like: their noise grows as the square root of the expected count, so a quiet
  // night's residuals are smaller than a busy afternoon's. With this on, a count series' residual
  // is divided by sqrt(forecast / the forecast's mean over the period), within a factor of 4
  // either way; a burst at night is then as visible as one of the same number of sigmas at noon.
  bool poisson_counts = true;
  // After the warmup, a value beyond the whole range seen so far is an anomaly in itself, scored
  // 1: a sensor reading a level it never read before (the "spatial anomaly" of Numenta's NAB
  // detector, with its tolerance of this fraction of the range). It must also pass the range by
  // one standard deviation of the noise, so that the records a noisy sensor sets now and then
  // by chance are not alarms. A level read for one reading only, beyond the tolerance (a
  // glitch, a lone spike), does not join the range until a second reading reaches the upper half
  // of the way to it: one glitch would otherwise hide every level short of it for good, and
  // shrink every shape the pattern memory compares to nothing.
  double novel_tolerance = 0.05;
  // A glitch (a reset value, a saturated converter) is judged in full, but the Holt-Winters
  // forecast learns from it as from a reading `learn_clip` of its standard deviations off, and the
  // noise that the range's tolerance comes from as from a step of `learn_clip` mean steps
  // (Huber's clipping, as in the robust Holt-Winters of Gelper, Fried and Croux, 2010).
  // Unclipped, a reading 1000 sd off left its point of the cycle wrong for weeks, and the
  // tolerance wide for a hundred readings. A lasting change is still learnt, as the scales grow
  // to take it in.
  double learn_clip = 8;
};

// The least spread a series at `level` is taken to have, a billionth of it (of 1 near 0): a scale
// with (almost) no spread would make any change infinitely many of it out, or never grow again.
inline double SpreadFloor(double level) { return 1e-9 * std::max(1.0, std::abs(level)); }

// The period of `values` by autocorrelation: the top of the hump of the shortest local peak in
// [min_period, max_period] within about 1 / sqrt(n) of the highest, or 0 when no peak correlates
// at least `min_acf` and stands at least `min_prominence` above the lowest autocorrelation at a
// shorter lag.
size_t DetectSeasonality(const std::vector<float>& values, size_t min_period, size_t max_period,
                         double min_acf, double min_prominence);

// The shapes a series has taken: "has it looked like this before?", in the manner of adaptive
// resonance theory. A pattern is the last kDims values; up to kPatterns prototypes are kept in
// the series' own units, and distances are mean absolute differences over the range of the
// series, so that they stay comparable as the range grows. A pattern farther than the
// vigilance from every prototype becomes one (in place of the least recently matched when the
// memory is full); a nearer one moves its nearest prototype towards itself. A daily backup spike
// is strange to a z-score every day, but familiar here from the second day on. Not thread-safe.
class PatternMemory {
 public:
  static constexpr size_t kDims = 8;
  static constexpr size_t kPatterns = 32;

  // Adds `value`; returns the distance of the pattern it ends to the nearest prototype in
  // [0, 1] (1 with no prototype yet), or -1 before kDims values or while the pattern and `range`
  // are both flat. Then learns the pattern. While `range` is 0 the pattern's own spread is the
  // range.
  double Update(double value, double range, double vigilance, double rate);

  void Save(StateWriter* out) const;
  bool Restore(StateReader* in);

 private:
  std::array<float, kDims> last_{};  // oldest first
  size_t seen_ = 0;
  std::array<std::array<float, kDims>, kPatterns> prototypes_{};
  std::array<uint32_t, kPatterns> matched_at_{};
  size_t size_ = 0;
  uint32_t clock_ = 0;
};

// A streaming anomaly detector for one series, in under 4 KiB of state: a robust z-score
// (median/MAD), an EWMA residual and a two-sided CUSUM for level shifts give a raw surprise per
// reading, or, once a period is found, the residual of an additive Holt-Winters forecast (for
// counts, over their Poisson noise); the surprise is bounded (tanh) and muted for patterns the
// PatternMemory knows. The ensemble turns it into an anomaly likelihood, the tail probability of
// the recent average surprise against its own long-run distribution (as Numenta's anomaly
// likelihood), reported as -log10(tail) / score_decades capped at 1; a value beyond the whole range
// seen so far (by a tolerance and the noise; levels read only once are not in it until read
// again) scores 1; then a refractory rule reports each event once. Each score uses only the values
// up to and including its own. Not thread-safe.
class AnomalyDetector {
 public:
  explicit AnomalyDetector(const DetectorOptions& options = {});

  // Adds `value` and returns its anomaly score in [0, 1].
  double Update(double value);

  // Bytes of state, for capacity planning.
  size_t bytes() const;

  // The whole state, to continue after a restart exactly where it stopped. Restore needs a
  // detector made with the same options; false (and the detector is then to be discarded) when
  // the bytes are not such state.
  void Save(StateWriter* out) const;
  bool Restore(StateReader* in);
  // The layout of key state versions 1 and 2, whose range had no levels read once: they start
  // with none.
  bool RestoreVersion2(StateReader* in);

  // Why the latest score: true when it came from a value beyond the whole range seen before
  // (from lowest() to highest()), false when from the likelihood of the recent readings.
  bool novel() const { return novel_; }
  // Whether the latest reading was a fault code read again (see Extreme::Code): novel, and
  // reported each time.
  bool fault_code() const { return fault_code_; }
  double lowest() const { return min(); }
  double highest() const { return max(); }
  // The series' cycle in readings, once found (DetectSeasonality), else 0; and whether its
  // readings are judged against the Holt-Winters forecast of it yet (from one whole cycle after).
  size_t period() const { return period_; }
  bool seasonal() const { return period_ > 0 && season_.size() == period_; }

 private:
  bool RestoreLayout(StateReader* in, bool with_once);
  double RobustZ(double value) const;
  double Refractory(double score);
  // Keeps `value` for the autocorrelation until season_learn readings are in, then looks for the
  // period; without one, starts again.
  void LearnPeriod(double value);
  double SeasonalZ(double value);

  DetectorOptions options_;
  uint64_t count_ = 0;
  // Median/MAD window: the values in arrival order (ring) and sorted.
  std::vector<float> ring_;
  std::vector<float> sorted_;
  size_t next_ = 0;
  // EWMA of the values.
  double mean_ = 0, var_ = 0;
  // CUSUM of standardised residuals.
  double cusum_up_ = 0, cusum_down_ = 0;
  // Raw surprise: recent ring and long-run EWMA mean/variance.
  std::vector<double> recent_;
  size_t recent_next_ = 0;
  double recent_sum_ = 0;
  double surprise_mean_ = 0, surprise_var_ = 0;
  uint64_t surprise_count_ = 0;
  // Seasonality: means of pairs of readings (as bfloat16, less the first reading) kept while
  // learning the period, then the seasonal components of the Holt-Winters forecast.
  std::vector<uint16_t> learn_;
  double learn_origin_ = 0;
  double learn_sum_ = 0;
  size_t learn_pending_ = 0;
  size_t period_ = 0;
  std::vector<float> season_;
  size_t season_next_ = 0;
  double season_scale_ = 0;             // EWMA of |x - forecast| (over the noise of counts)
  double hw_level_ = 0, hw_trend_ = 0;  // Holt-Winters; season_ holds the seasonal components
  double season_sum_ = 0;               // and this is their sum
  bool counts_ = true;                  // every value so far a non-negative integer
  // One end of the range, for readings oriented so that beyond it is above it (the low end
  // holds the readings negated).
  struct Extreme {
    double seen = 0;  // the range's end: what the readings reached but one-off levels
    double once = 0;  // a level beyond it read once, if has_once: the most extreme of them
    bool has_once = false;
    // Whether x is `once` again, to the float it is kept as, and `once` is further beyond the
    // end than the range's `width`: a sensor's fault code (85 C, -127 C, 4095), which no
    // physical level repeats exactly that far out.
    bool Code(double x, double width) const;
    // Whether x is new: beyond `seen` by the tolerance, and not a second reading of `once` (in
    // the upper half of the way from `seen` to it, or up to it by the tolerance) unless a code.
    bool Novel(double x, double tolerance, double width) const;
    // Takes in x as it leaves the delay: a reading within the tolerance of the end, or `lasting`
    // (a neighbour beyond the end too: a level shift, a run), moves the end; a lone one beyond
    // that is held as `once` (the more extreme one held), and a second reading of it joins it
    // to the range, unless it is a code: that never joins.
    void Admit(double x, bool lasting, double tolerance, double width);
  };
  // The range of every value up to kRangeDelay readings ago (but one-off levels), the last
  // kRangeDelay values and the one before them, and the EWMA of the absolute step between
  // readings.
  static constexpr size_t kRangeDelay = 8;
  Extreme high_, low_;
  double left_ = 0;  // the value that left the delay last
  double min() const { return -low_.seen; }
  double max() const { return high_.seen; }
  std::array<float, kRangeDelay> delayed_{};
  size_t delayed_next_ = 0;
  double step_ = 0;
  bool novel_ = false;
  bool fault_code_ = false;  // of the latest reading only: not saved
  PatternMemory patterns_;
  // The last reported score and when: for `refractory` readings after it, only a score
  // `escalation` times higher is reported; and the readings since the last score of at least
  // `rearm_below`.
  double last_report_ = 0;
  uint64_t last_report_at_ = 0;
  uint64_t quiet_ = 0;
};

}  // namespace edgeway::stream
