#include "edgeway/stream/analytics.h"

#include <cmath>

#include "fmt/format.h"
#include "stream/key.h"

namespace edgeway::stream {

const char* TrendName(Trend trend) {
  switch (trend) {
    case Trend::kIncreasing:
      return "increasing";
    case Trend::kDecreasing:
      return "decreasing";
    case Trend::kStable:
      break;
  }
  return "stable";
}

void HoltForecaster::Update(double value) {
  if (count_ == 0) {
    level_ = value;
    trend_ = 0;
  } else if (count_ == 1) {
    trend_ = value - level_;
    level_ = value;
  } else {
    double previous = level_;
    level_ = alpha_ * value + (1 - alpha_) * (level_ + trend_);
    trend_ = beta_ * (level_ - previous) + (1 - beta_) * trend_;
  }
  ++count_;
}

void HoltForecaster::Save(StateWriter* out) const {
  out->Put(level_);
  out->Put(trend_);
  out->Put(count_);
}

bool HoltForecaster::Restore(StateReader* in) {
  return in->Get(&level_) && in->Get(&trend_) && in->Get(&count_);
}

void StuckDetector::Save(StateWriter* out) const {
  out->Put(value_);
  for (uint64_t n : {run_, longest_, before_}) out->Put(n);
  out->PutBool(stuck_);
}

bool StuckDetector::Restore(StateReader* in) {
  return in->Get(&value_) && in->Get(&run_) && in->Get(&longest_) && in->Get(&before_) &&
         in->GetBool(&stuck_);
}

bool StuckDetector::Update(double value) {
  if (run_ > 0 && value == value_) {
    ++run_;
  } else {
    longest_ = std::max(longest_, run_);
    before_ += run_;
    value_ = value;
    run_ = 1;
    stuck_ = false;
  }
  if (factor_ <= 0 || stuck_ || longest_ == 0 || run_ < min_run_ || before_ < min_run_ ||
      static_cast<double>(run_) <= factor_ * static_cast<double>(longest_)) {
    return false;
  }
  stuck_ = true;
  return true;
}

bool RecentTimes::SeenBefore(int64_t ts) {
  // A time after every one before is new: no search on the common path.
  if (size_ > 0 && ts <= newest_) {
    for (size_t i = 0; i < size_; ++i) {
      if (times_[i] == ts) return true;
    }
  }
  Add(ts);
  return false;
}

void RecentTimes::Add(int64_t ts) {
  times_[next_] = ts;
  next_ = static_cast<uint8_t>((next_ + 1) % kSize);
  if (size_ < kSize) ++size_;
  newest_ = std::max(newest_, ts);
}

void RecentTimes::Save(StateWriter* out) const {
  out->Put(size_);
  for (size_t k = 0; k < size_; ++k) out->Put(times_[(next_ + kSize - size_ + k) % kSize]);
}

bool RecentTimes::Restore(StateReader* in) {
  uint8_t size = 0;
  if (!in->Get(&size) || size > kSize) return false;
  for (size_t k = 0; k < size; ++k) {
    int64_t t = 0;
    if (!in->Get(&t)) return false;
    Add(t);
  }
  return true;
}

bool RecentTimes::RestoreVersion1(StateReader* in) {
  constexpr size_t kSaved = 8;  // a ring of 8 times, then where the next went, and how many
  std::array<int64_t, kSaved> times{};
  for (int64_t& t : times) {
    if (!in->Get(&t)) return false;
  }
  uint8_t next = 0, size = 0;
  if (!in->Get(&next) || next >= kSaved || !in->Get(&size) || size > kSaved) return false;
  for (size_t k = 0; k < size; ++k) Add(times[(next + kSaved - size + k) % kSaved]);
  return true;
}

Trend TrendOf(const CountWindow& window, size_t n, double threshold) {
  if (n < 2 || window.size() < n) return Trend::kStable;
  const size_t older = n / 2;  // the seed's values[:len//2]
  // recent(i) is i readings back; chronological position n - 1 - i.
  auto is_older = [&](size_t i) { return n - 1 - i < older; };
  double older_sum = 0, newer_sum = 0;
  for (size_t i = 0; i < n; ++i) (is_older(i) ? older_sum : newer_sum) += window.recent(i);
  auto trend = [&](double older_total, size_t older_n, double newer_total, size_t newer_n) {
    const double a = older_total / static_cast<double>(older_n);
    const double b = newer_total / static_cast<double>(newer_n);
    const double margin = threshold * std::abs(a);
    return b > a + margin ? Trend::kIncreasing
                          : (b < a - margin ? Trend::kDecreasing : Trend::kStable);
  };
  const Trend all = trend(older_sum, older, newer_sum, n - older);
  if (all == Trend::kStable || n < 4) return all;
  // Without the reading farthest from the mean, the same trend, or none: a spike moves one half's
  // mean past the margin, and is an anomaly, not a trend.
  const double mean = (older_sum + newer_sum) / static_cast<double>(n);
  size_t far = 0;
  for (size_t i = 1; i < n; ++i) {
    if (std::abs(window.recent(i) - mean) > std::abs(window.recent(far) - mean)) far = i;
  }
  const double x = window.recent(far);
  const Trend without = is_older(far) ? trend(older_sum - x, older - 1, newer_sum, n - older)
                                      : trend(older_sum, older, newer_sum - x, n - older - 1);
  return without == all ? all : Trend::kStable;
}

double AnomalyScore(const Verdict& verdict) {
  return std::erf(std::abs(verdict.z) / std::sqrt(2.0));
}

namespace {

// Confidence that a reading |z| standard deviations out is a real anomaly: about 0.63 at the
// threshold, 0.95 two deviations past it, approaching 1.
double AnomalyConfidence(double abs_z, double sigma) {
  double c = 1 - std::exp(-(abs_z - sigma + 1));
  return std::clamp(c, 0.0, 0.999);
}

}  // namespace

KeyedAnalytics::KeyedAnalytics(AnalyticsOptions options, std::vector<SensorAnalytics> per_sensor)
    : options_{options} {
  for (SensorAnalytics& s : per_sensor) {
    s.options.skip_duplicates = options.skip_duplicates;
    options_.push_back(s.options);
    sensors_.push_back(std::move(s.sensors));
  }
}

const AnalyticsOptions& KeyedAnalytics::OptionsOf(std::string_view sensor) const {
  for (size_t i = 0; i < sensors_.size(); ++i) {
    if (std::find(sensors_[i].begin(), sensors_[i].end(), sensor) != sensors_[i].end()) {
      return options_[i + 1];
    }
  }
  return options_[0];
}

KeyedAnalytics::KeyState& KeyedAnalytics::StateOf(const Reading& reading) {
  const std::string& key = KeyOf(&key_buffer_, reading.device_id, reading.sensor);
  auto it = keys_.find(key);
  if (it == keys_.end()) it = keys_.try_emplace(key, OptionsOf(reading.sensor)).first;
  KeyState& state = it->second;
  state.changed = true;  // by whoever asked for it
  state.last_received_ns = std::max(state.last_received_ns, reading.received_ns);
  return state;
}

void KeyedAnalytics::Remember(const Reading& reading) {
  StateOf(reading).recent.SeenBefore(reading.ts_ns);
}

Verdict KeyedAnalytics::Process(const Reading& reading, std::vector<Insight>* insights) {
  KeyState& state = StateOf(reading);
  const AnalyticsOptions& options = *state.options;
  Verdict v;
  if (options.skip_duplicates && state.recent.SeenBefore(reading.ts_ns)) {
    v.duplicate = true;
    return v;
  }
  CountWindow& window = state.window;
  const double x = reading.value;

  v.forecast = state.holt.ready() ? state.holt.Forecast() : x;
  if (window.size() >= options.min_samples) {
    v.mean = window.mean();
    v.stddev = window.stddev();
    // A window with (almost) no spread makes any change infinitely many deviations out; a floor
    // relative to the level keeps the score finite and a constant series quiet.
    v.z = (x - v.mean) / std::max(v.stddev, SpreadFloor(v.mean));
    v.anomaly = std::abs(v.z) > options.sigma;
  }
  if (state.ensemble) {
    v.score = state.ensemble->Update(x);
    v.period = state.ensemble->period();
    v.fault_code = state.ensemble->fault_code();
    v.anomaly = v.score > 0 && v.score >= options.anomaly_threshold;
  }
  window.Push(x);
  state.holt.Update(x);
  v.trend = TrendOf(window, options.trend_window, options.trend_threshold);
  v.count = window.size();
  v.min = window.min();
  v.max = window.max();

  // An insight about this reading.
  auto add = [&](Insight::Kind kind, double expected) -> Insight& {
    Insight& in = insights->emplace_back();
    in.device_id = reading.device_id;
    in.sensor = reading.sensor;
    in.ts_ns = reading.ts_ns;
    in.kind = kind;
    in.value = x;
    in.expected = expected;
    return in;
  };
  const char* space = reading.unit.empty() ? "" : " ";
  if (v.anomaly) {
    Insight& in = add(Insight::Kind::kAnomaly, v.mean);
    if (state.ensemble) {
      const AnomalyDetector& d = *state.ensemble;
      in.score = v.score;
      in.confidence = v.score;
      if (d.novel()) {
        in.summary =
            fmt::format("{}/{} = {:.4g}{}{}: {} the range of its readings ({:.4g} to {:.4g}){}",
                        reading.device_id, reading.sensor, x, space, reading.unit,
                        x > d.highest() ? "above" : "below", d.lowest(), d.highest(),
                        d.fault_code() ? ", exactly as it read before: a fault code?" : "");
      } else {
        // The likelihood judges the last few readings together, so it may peak just after the
        // reading that broke the pattern: say so, and show the range of the window.
        in.summary = fmt::format(
            "{}/{}: anomaly likelihood {:.3f} over its latest readings (now {:.4g}{}{}; last {} "
            "from {:.4g} to {:.4g}){}",
            reading.device_id, reading.sensor, v.score, x, space, reading.unit, v.count, v.min,
            v.max,
            d.seasonal()
                ? fmt::format(", against the forecast of its cycle of {} readings", d.period())
                : "");
      }
    } else {
      in.score = std::abs(v.z);
      in.confidence = AnomalyConfidence(in.score, options.sigma);
      in.summary = fmt::format("{}/{} = {:.4g}{}{}: {:.1f} sigma {} the mean {:.4g} of its last {}",
                               reading.device_id, reading.sensor, x, space, reading.unit, in.score,
                               v.z > 0 ? "above" : "below", v.mean, window.size() - 1);
    }
    in.actions = {"alert", "inspect_sensor"};
  }
  if (v.trend != state.reported_trend) {
    state.reported_trend = v.trend;
    if (v.trend != Trend::kStable) {
      Insight& in = add(Insight::Kind::kTrend, state.holt.Forecast());
      in.confidence = 0.6;  // the seed's confidence for a trend
      in.summary =
          fmt::format("{}/{} {} over its last {} readings; next expected {:.4g}", reading.device_id,
                      reading.sensor, v.trend == Trend::kIncreasing ? "rising" : "falling",
                      options.trend_window, in.expected);
      in.actions = {"watch"};
    }
  }
  v.stuck = state.stuck.Update(x);
  if (v.stuck) {
    Insight& in = add(Insight::Kind::kStuck, x);
    const double ratio =
        static_cast<double>(state.stuck.run()) / static_cast<double>(state.stuck.longest());
    in.score = ratio;
    in.confidence = 1 - 1 / ratio;  // 0.5 at twice the longest run before, nearing 1 beyond
    in.summary = fmt::format(
        "{}/{} has read {:.6g}{}{} for {} readings in a row; its longest run of one value before "
        "was {}",
        reading.device_id, reading.sensor, x, space, reading.unit, state.stuck.run(),
        state.stuck.longest());
    in.actions = {"inspect_sensor"};
  }
  return v;
}

namespace {

// Saved key state from another version of this layout is not restored, but for version 1, whose
// recent event times were 8 (RecentTimes::RestoreVersion1), and versions 1 and 2, whose ensemble
// range had no levels read once (AnomalyDetector::RestoreVersion2).
constexpr uint32_t kStateVersion = 3;

}  // namespace

SavedKeyState KeyedAnalytics::SaveKey(const std::string& key, const KeyState& state) const {
  StateWriter w;
  // What the state depends on: another detector or window starts afresh.
  w.Put(kStateVersion);
  const AnalyticsOptions& options = *state.options;
  w.Put(static_cast<uint8_t>(options.detector));
  w.Put<uint64_t>(options.window);
  w.Put<uint64_t>(options.ensemble_warmup);
  std::vector<double> window(state.window.size());  // oldest first
  for (size_t i = 0; i < window.size(); ++i) {
    window[i] = state.window.recent(window.size() - 1 - i);
  }
  w.PutVector(window);
  state.holt.Save(&w);
  state.stuck.Save(&w);
  state.recent.Save(&w);
  w.Put(static_cast<uint8_t>(state.reported_trend));
  if (state.ensemble) state.ensemble->Save(&w);
  auto [device_id, sensor] = SplitKey(key);
  return {std::move(device_id), std::move(sensor), w.bytes()};
}

std::vector<SavedKeyState> KeyedAnalytics::Save() const {
  std::vector<SavedKeyState> out;
  out.reserve(keys_.size());
  for (const auto& [key, state] : keys_) out.push_back(SaveKey(key, state));
  return out;
}

bool KeyedAnalytics::StartSnapshot(bool every_key) {
  if (snapshot_next_ < snapshot_.size() && !every_key) return false;
  snapshot_.clear();
  snapshot_next_ = 0;
  for (auto& [key, state] : keys_) {
    if (!state.changed && !every_key) continue;
    snapshot_.push_back(key);
    state.changed = false;
  }
  return true;
}

std::vector<SavedKeyState> KeyedAnalytics::NextSnapshotChunk(size_t max_bytes) {
  std::vector<SavedKeyState> out;
  for (size_t bytes = 0; snapshot_next_ < snapshot_.size() && bytes < max_bytes; ++snapshot_next_) {
    auto it = keys_.find(snapshot_[snapshot_next_]);
    if (it == keys_.end()) continue;  // forgotten since the snapshot started
    out.push_back(SaveKey(it->first, it->second));
    bytes += out.back().bytes.size();
  }
  if (snapshot_next_ == snapshot_.size()) {  // done: its memory too
    std::vector<std::string>().swap(snapshot_);
    snapshot_next_ = 0;
  }
  return out;
}

bool KeyedAnalytics::Restore(const SavedKeyState& saved) {
  StateReader in(saved.bytes);
  uint32_t version = 0;
  uint8_t detector = 0, trend = 0;
  uint64_t window = 0, warmup = 0;
  std::vector<double> values;
  const AnalyticsOptions& options = OptionsOf(saved.sensor);
  KeyState state(options);
  if (!in.Get(&version) || version < 1 || version > kStateVersion || !in.Get(&detector) ||
      detector != static_cast<uint8_t>(options.detector) || !in.Get(&window) ||
      window != options.window || !in.Get(&warmup) || warmup != options.ensemble_warmup ||
      !in.GetVector(&values, options.window) || !state.holt.Restore(&in) ||
      !state.stuck.Restore(&in) ||
      !(version == 1 ? state.recent.RestoreVersion1(&in) : state.recent.Restore(&in)) ||
      !in.Get(&trend) || trend > static_cast<uint8_t>(Trend::kDecreasing) ||
      (state.ensemble &&
       !(version < 3 ? state.ensemble->RestoreVersion2(&in) : state.ensemble->Restore(&in))) ||
      !in.done()) {
    return false;
  }
  for (double x : values) state.window.Push(x);
  state.reported_trend = static_cast<Trend>(trend);
  state.changed = false;  // the state as saved
  keys_.insert_or_assign(KeyOf(&key_buffer_, saved.device_id, saved.sensor), std::move(state));
  return true;
}

std::vector<std::pair<std::string, std::string>> KeyedAnalytics::Forget(int64_t cutoff_ns,
                                                                        int64_t since_ns) {
  std::vector<std::pair<std::string, std::string>> forgotten;
  absl::erase_if(keys_, [&](const auto& entry) {
    if (std::max(entry.second.last_received_ns, since_ns) >= cutoff_ns) return false;
    forgotten.push_back(SplitKey(entry.first));
    return true;
  });
  return forgotten;
}

size_t KeyedAnalytics::bytes_per_key() const {
  if (keys_.empty()) return 0;
  const auto& [key, state] = *keys_.begin();
  // The map slot, the window's heap, and the key's characters when they do not fit inline.
  return sizeof(std::pair<const std::string, KeyState>) + state.window.heap_bytes() +
         (state.ensemble ? state.ensemble->bytes() : 0) +
         (key.capacity() > 15 ? key.capacity() + 1 : 0);
}

}  // namespace edgeway::stream
