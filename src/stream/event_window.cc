#include "edgeway/stream/event_window.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "stream/key.h"

namespace edgeway::stream {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

const char* WindowKindName(WindowKind kind) {
  switch (kind) {
    case WindowKind::kTumbling:
      return "tumbling";
    case WindowKind::kSliding:
      return "sliding";
    case WindowKind::kSession:
      return "session";
  }
  return "?";
}

bool WindowSpec::Applies(std::string_view sensor) const {
  return sensors.empty() || std::find(sensors.begin(), sensors.end(), sensor) != sensors.end();
}

int64_t WindowSpec::OldestNotGone(int64_t newest_ns) const {
  // A window ending by this is gone: the key's watermark, less the allowed lateness.
  const int64_t gone_by = newest_ns - watermark_delay_ns - allowed_lateness_ns;
  if (kind == WindowKind::kSession) {
    // A session not gone ends after it, so it lies in the period that holds it or a later one.
    return max_duration_ns > 0 ? FloorDiv(gone_by, max_duration_ns) * max_duration_ns
                               : gone_by - gap_ns;
  }
  const int64_t slide = kind == WindowKind::kTumbling ? size_ns : slide_ns;
  return FloorDiv(gone_by - size_ns, slide) * slide + slide;  // the first window ending after it
}

double Percentile(std::vector<double>* values, double p, size_t* from) {
  std::vector<double>& v = *values;
  const double h = (static_cast<double>(v.size()) - 1) * p / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t first = from != nullptr && *from <= lo ? *from : 0;
  std::nth_element(v.begin() + static_cast<ptrdiff_t>(first),
                   v.begin() + static_cast<ptrdiff_t>(lo), v.end());
  if (from != nullptr) *from = lo;
  if (lo + 1 >= v.size()) return v[lo];
  const double next = *std::min_element(v.begin() + static_cast<ptrdiff_t>(lo) + 1, v.end());
  return v[lo] + (h - static_cast<double>(lo)) * (next - v[lo]);
}

bool KeyWindows::Gone(int64_t end) const {
  return watermark_ != INT64_MIN && end <= watermark_ - spec_->allowed_lateness_ns;
}

int64_t KeyWindows::slide() const {
  return spec_->kind == WindowKind::kTumbling ? spec_->size_ns : spec_->slide_ns;
}

int64_t KeyWindows::NextAligned(int64_t start, size_t* slice) const {
  while (*slice < slices_.size() && slices_[*slice].start < start) ++*slice;
  if (*slice == slices_.size()) return INT64_MAX;
  const int64_t first = slices_[*slice].start;
  // No slice lies in [start, first): the first window holding this slice, if not `start`.
  return first < start + spec_->size_ns ? start : first - spec_->size_ns + slide();
}

void Moments::Add(double x) {
  ++count;
  const double d = x - mean;
  mean += d / static_cast<double>(count);
  m2 += d * (x - mean);
  min = std::min(min, x);
  max = std::max(max, x);
}

void Moments::Merge(const Moments& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  const double n = static_cast<double>(count + other.count);
  const double d = other.mean - mean;
  mean += d * static_cast<double>(other.count) / n;
  m2 += other.m2 + d * d * static_cast<double>(count) * static_cast<double>(other.count) / n;
  count += other.count;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
}

int64_t KeyWindows::FirstEndingAfter(int64_t t) const {
  return FloorDiv(t - spec_->size_ns, slide()) * slide() + slide();
}

int64_t KeyWindows::FirstNotGone() const {
  return watermark_ == INT64_MIN ? INT64_MIN
                                 : FirstEndingAfter(watermark_ - spec_->allowed_lateness_ns);
}

std::vector<KeyWindows::Closed>::iterator KeyWindows::ClosedAt(int64_t start,
                                                               std::vector<Closed>::iterator from) {
  while (from != closed_.end() && from->start < start) ++from;
  if (from == closed_.end() || from->start != start) from = closed_.insert(from, {.start = start});
  return from;
}

void KeyWindows::EmitAligned(int64_t first, int64_t last, std::vector<WindowResult>* results) {
  size_t slice = 0;
  auto closed = closed_.begin();
  for (int64_t start = NextAligned(first, &slice); start <= last;
       start = NextAligned(start + slide(), &slice)) {
    closed = ClosedAt(start, closed);
    EmitClosed(&*closed, results);
  }
}

void KeyWindows::EmitSession(Session* session, std::vector<WindowResult>* results) {
  session->changed = false;
  if (session->emitted > 0 && session->moments.count == session->emitted_count) return;
  session->emitted_count = session->moments.count;
  Emit(session->start, session->end, session->emitted++, session->moments, &session->values,
       results);
}

void KeyWindows::EmitClosed(Closed* closed, std::vector<WindowResult>* results) {
  size_t slice = 0;
  NextAligned(closed->start, &slice);
  Moments moments;
  values_.clear();
  for (; slice < slices_.size() && slices_[slice].start < closed->start + spec_->size_ns; ++slice) {
    moments.Merge(slices_[slice].moments);
    values_.insert(values_.end(), slices_[slice].values.begin(), slices_[slice].values.end());
  }
  closed->changed = false;
  if (closed->emitted > 0 && moments.count == closed->emitted_count) return;
  closed->emitted_count = moments.count;
  Emit(closed->start, closed->start + spec_->size_ns, closed->emitted++, moments, &values_,
       results);
}

bool KeyWindows::AddAligned(int64_t t, double value) {
  const int64_t start = FloorDiv(t, slide()) * slide();  // of its slice, and of its last window
  if (Gone(start + spec_->size_ns)) return false;
  auto it = std::lower_bound(slices_.begin(), slices_.end(), start,
                             [](const Slice& s, int64_t at) { return s.start < at; });
  if (it == slices_.end() || it->start != start) it = slices_.insert(it, Slice{.start = start});
  it->moments.Add(value);
  if (keeps_values()) it->values.push_back(value);
  if (watermark_ == INT64_MIN) return true;
  // The windows holding it that the watermark closed and that are not gone: changed.
  const int64_t last = std::min(start, FirstEndingAfter(watermark_) - slide());
  auto closed = closed_.begin();
  for (int64_t w = std::max(start - spec_->size_ns + slide(), FirstNotGone()); w <= last;
       w += slide()) {
    closed = ClosedAt(w, closed);
    closed->changed = true;
    revising_ = true;
  }
  return true;
}

bool KeyWindows::AddSession(int64_t t, double value) {
  int64_t end = t + spec_->gap_ns;
  if (const int64_t d = spec_->max_duration_ns; d > 0) {
    // Cut where its period ends: then it cannot reach a session of the next period, nor one of
    // the last period reach it (theirs end by this period's start).
    end = std::min(end, FloorDiv(t, d) * d + d);
  }
  if (Gone(end)) return false;
  // Sessions never overlap and are sorted, so the ones [t, end) touches are adjacent: they merge
  // into one, which takes the place of the first.
  Session merged{.start = t, .end = end};
  merged.moments.Add(value);
  if (keeps_values()) merged.values.push_back(value);
  auto first =
      std::find_if(sessions_.begin(), sessions_.end(), [&](const Session& s) { return s.end > t; });
  auto last = first;
  while (last != sessions_.end() && last->start < end) {
    merged.start = std::min(merged.start, last->start);
    merged.end = std::max(merged.end, last->end);
    merged.moments.Merge(last->moments);
    merged.values.insert(merged.values.end(), last->values.begin(), last->values.end());
    merged.emitted = std::max(merged.emitted, last->emitted);
    ++last;
  }
  // Closed already, it is changed; extended past the watermark, it is open again (and emitted
  // again when the watermark closes it: its count is not what was emitted).
  merged.changed = watermark_ != INT64_MIN && merged.end <= watermark_;
  revising_ = revising_ || merged.changed;
  sessions_.insert(sessions_.erase(first, last), std::move(merged));
  return true;
}

void KeyWindows::Emit(int64_t start, int64_t end, uint32_t revision, const Moments& moments,
                      std::vector<double>* values, std::vector<WindowResult>* results) {
  WindowResult& r = results->emplace_back();
  r.window = spec_->name;
  r.device_id = device_id_;
  r.sensor = sensor_;
  r.start_ns = start;
  r.end_ns = end;
  r.count = moments.count;
  r.mean = moments.mean;
  r.min = moments.min;
  r.max = moments.max;
  r.stddev = std::sqrt(moments.m2 / static_cast<double>(moments.count));
  // From the lowest percentile up, each selection among the values the last one left above it.
  const std::vector<double>& ps = spec_->percentiles;
  r.percentiles.resize(ps.size());
  std::vector<size_t> order(ps.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ps[a] < ps[b]; });
  size_t from = 0;
  for (size_t i : order) r.percentiles[i] = {ps[i], Percentile(values, ps[i], &from)};
  r.revision = revision;
}

void KeyWindows::Add(const Reading& reading, std::vector<WindowResult>* results,
                     std::vector<LateReading>* late) {
  if (device_id_.empty()) {
    device_id_ = reading.device_id;
    sensor_ = reading.sensor;
  }
  const int64_t t = reading.ts_ns;
  // Late or not, a reading says the key is not idle.
  last_received_ns_ = std::max(last_received_ns_, reading.received_ns);
  idle_ = false;
  const bool session = spec_->kind == WindowKind::kSession;
  if (!(session ? AddSession(t, reading.value) : AddAligned(t, reading.value))) {
    late->push_back({.window = spec_->name, .reading = reading, .watermark_ns = watermark_});
    return;
  }
  newest_ = std::max(newest_, t);
  AdvanceWatermark(t - spec_->watermark_delay_ns, results);
}

void KeyWindows::Idle(int64_t now_ns, int64_t since_ns, std::vector<WindowResult>* results) {
  if (idle_ || spec_->idle_timeout_ns <= 0 || newest_ == INT64_MIN || last_received_ns_ == 0) {
    return;
  }
  const int64_t silent = now_ns - std::max(last_received_ns_, since_ns);
  if (silent < spec_->idle_timeout_ns) return;
  idle_ = true;
  EmitOpen(results);
}

void KeyWindows::AdvanceWatermark(int64_t watermark, std::vector<WindowResult>* results) {
  if (watermark <= watermark_) return;
  const int64_t before = watermark_;
  watermark_ = watermark;
  // Close the windows that end in (before, watermark]; then let go of the gone, a prefix as ends
  // grow with starts (equal sizes, or sessions that do not overlap), revising the changed first.
  if (spec_->kind == WindowKind::kSession) {
    for (Session& s : sessions_) {
      if (s.end > before && s.end <= watermark_) EmitSession(&s, results);
    }
    auto gone = sessions_.begin();
    for (; gone != sessions_.end() && Gone(gone->end); ++gone) {
      if (gone->changed) EmitSession(&*gone, results);
    }
    sessions_.erase(sessions_.begin(), gone);
    return;
  }
  EmitAligned(before == INT64_MIN ? INT64_MIN : FirstEndingAfter(before),
              FirstEndingAfter(watermark_) - slide(), results);
  auto gone = closed_.begin();
  for (; gone != closed_.end() && Gone(gone->start + spec_->size_ns); ++gone) {
    if (gone->changed) EmitClosed(&*gone, results);
  }
  closed_.erase(closed_.begin(), gone);
  const int64_t keep = FirstNotGone();  // a slice is needed while its last window is
  slices_.erase(slices_.begin(), std::find_if(slices_.begin(), slices_.end(),
                                              [&](const Slice& s) { return s.start >= keep; }));
}

void KeyWindows::Revise(std::vector<WindowResult>* results) {
  if (!revising_) return;
  revising_ = false;
  for (Session& s : sessions_) {
    if (s.changed) EmitSession(&s, results);
  }
  for (Closed& c : closed_) {
    if (c.changed) EmitClosed(&c, results);
  }
}

void KeyWindows::EmitOpen(std::vector<WindowResult>* results) {
  for (Session& s : sessions_) {
    if (s.end > watermark_) EmitSession(&s, results);
  }
  if (!slices_.empty()) {
    EmitAligned(watermark_ == INT64_MIN ? INT64_MIN : FirstEndingAfter(watermark_),
                slices_.back().start, results);
  }
}

void KeyWindows::Flush(std::vector<WindowResult>* results) {
  Revise(results);
  // Every other window that was closed was emitted then: what is left is the open.
  EmitOpen(results);
  sessions_.clear();
  slices_.clear();
  closed_.clear();
}

size_t KeyWindows::open_windows() const {
  if (spec_->kind == WindowKind::kSession) return sessions_.size();
  size_t n = 0, slice = 0;
  for (int64_t start = NextAligned(FirstNotGone(), &slice); start != INT64_MAX;
       start = NextAligned(start + slide(), &slice)) {
    ++n;
  }
  return n;
}

size_t KeyWindows::buffered_values() const {
  size_t n = 0;
  for (const Slice& s : slices_) n += s.values.size();
  for (const Session& s : sessions_) n += s.values.size();
  return n;
}

void KeyedWindows::Process(const Reading& reading, std::vector<WindowResult>* results,
                           std::vector<LateReading>* late) {
  if (specs_.empty()) return;
  auto it = keys_.find(KeyOf(&key_buffer_, reading.device_id, reading.sensor));
  if (it == keys_.end()) {
    std::vector<KeyWindows> windows;
    for (const WindowSpec& spec : specs_) {
      if (spec.Applies(reading.sensor)) windows.emplace_back(&spec);
    }
    it = keys_.emplace(key_buffer_, std::move(windows)).first;
  }
  for (KeyWindows& w : it->second) {
    const bool listed = w.revising();
    w.Add(reading, results, late);
    if (w.revising() && !listed) revising_.push_back(&w);
  }
}

void KeyedWindows::Revise(std::vector<WindowResult>* results) {
  for (KeyWindows* w : revising_) w->Revise(results);
  revising_.clear();
}

void KeyedWindows::Flush(std::vector<WindowResult>* results) {
  revising_.clear();
  for (auto& [key, windows] : keys_) {
    for (KeyWindows& w : windows) w.Flush(results);
  }
}

void KeyedWindows::Idle(int64_t now_ns, int64_t since_ns, std::vector<WindowResult>* results) {
  for (auto& [key, windows] : keys_) {
    for (KeyWindows& w : windows) w.Idle(now_ns, since_ns, results);
  }
}

void KeyedWindows::Forget(std::span<const std::pair<std::string, std::string>> keys,
                          std::vector<WindowResult>* results) {
  Revise(results);  // nothing points into the keys after this
  for (const auto& [device, sensor] : keys) {
    auto it = keys_.find(KeyOf(&key_buffer_, device, sensor));
    if (it == keys_.end()) continue;
    for (KeyWindows& w : it->second) w.Flush(results);
    keys_.erase(it);
  }
}

size_t KeyedWindows::open_windows() const {
  size_t n = 0;
  for (const auto& [key, windows] : keys_) {
    for (const KeyWindows& w : windows) n += w.open_windows();
  }
  return n;
}

}  // namespace edgeway::stream
