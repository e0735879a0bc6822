#include "edgeway/stream/event_window.h"

#include <algorithm>
#include <cmath>

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

double Percentile(std::vector<double>* values, double p) {
  std::vector<double>& v = *values;
  const double h = (static_cast<double>(v.size()) - 1) * p / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(h));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(lo), v.end());
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

int64_t KeyWindows::FirstEndingAfter(int64_t t) const {
  return FloorDiv(t - spec_->size_ns, slide()) * slide() + slide();
}

int64_t KeyWindows::FirstNotGone() const {
  return watermark_ == INT64_MIN ? INT64_MIN
                                 : FirstEndingAfter(watermark_ - spec_->allowed_lateness_ns);
}

void KeyWindows::EmitAligned(int64_t first, int64_t last, std::vector<WindowResult>* results) {
  size_t slice = 0;
  auto record = emitted_.begin();
  for (int64_t start = NextAligned(first, &slice); start <= last;
       start = NextAligned(start + slide(), &slice)) {
    values_.clear();
    for (size_t i = slice; i < slices_.size() && slices_[i].start < start + spec_->size_ns; ++i) {
      values_.insert(values_.end(), slices_[i].values.begin(), slices_[i].values.end());
    }
    while (record != emitted_.end() && record->start < start) ++record;
    if (record == emitted_.end() || record->start != start) {
      record = emitted_.insert(record, {.start = start, .times = 0});
    }
    Emit(start, start + spec_->size_ns, record->times++, &values_, results);
  }
}

bool KeyWindows::AddAligned(int64_t t, double value, std::vector<WindowResult>* results) {
  const int64_t start = FloorDiv(t, slide()) * slide();  // of its slice, and of its last window
  if (Gone(start + spec_->size_ns)) return false;
  auto it = std::lower_bound(slices_.begin(), slices_.end(), start,
                             [](const Slice& s, int64_t at) { return s.start < at; });
  if (it == slices_.end() || it->start != start) it = slices_.insert(it, Slice{.start = start});
  it->values.push_back(value);
  // The windows holding it that the watermark closed and that are not gone: revised.
  if (watermark_ != INT64_MIN) {
    EmitAligned(std::max(start - spec_->size_ns + slide(), FirstNotGone()),
                std::min(start, FirstEndingAfter(watermark_) - slide()), results);
  }
  return true;
}

bool KeyWindows::AddSession(int64_t t, double value, std::vector<WindowResult>* results) {
  const int64_t end = t + spec_->gap_ns;
  if (Gone(end)) return false;
  // Sessions never overlap and are sorted, so the ones [t, end) touches are adjacent: they merge
  // into one, which takes the place of the first.
  Session merged{.start = t, .end = end, .values = {value}};
  auto first =
      std::find_if(sessions_.begin(), sessions_.end(), [&](const Session& s) { return s.end > t; });
  auto last = first;
  while (last != sessions_.end() && last->start < end) {
    merged.start = std::min(merged.start, last->start);
    merged.end = std::max(merged.end, last->end);
    merged.values.insert(merged.values.end(), last->values.begin(), last->values.end());
    merged.emitted = std::max(merged.emitted, last->emitted);
    ++last;
  }
  auto at = sessions_.erase(first, last);
  Session& s = *sessions_.insert(at, std::move(merged));
  // A session the watermark already closed, updated by a late reading: its result again.
  if (watermark_ != INT64_MIN && s.end <= watermark_) {
    Emit(s.start, s.end, s.emitted++, &s.values, results);
  }
  return true;
}

void KeyWindows::Emit(int64_t start, int64_t end, uint32_t revision, std::vector<double>* values,
                      std::vector<WindowResult>* results) {
  const std::vector<double>& v = *values;
  WindowResult& r = results->emplace_back();
  r.window = spec_->name;
  r.device_id = device_id_;
  r.sensor = sensor_;
  r.start_ns = start;
  r.end_ns = end;
  r.count = v.size();
  double sum = 0;
  r.min = r.max = v.front();
  for (double x : v) {
    sum += x;
    r.min = std::min(r.min, x);
    r.max = std::max(r.max, x);
  }
  r.mean = sum / static_cast<double>(v.size());
  double squares = 0;
  for (double x : v) squares += (x - r.mean) * (x - r.mean);
  r.stddev = std::sqrt(squares / static_cast<double>(v.size()));
  for (double p : spec_->percentiles) r.percentiles.emplace_back(p, Percentile(values, p));
  r.revision = revision;
}

void KeyWindows::Add(const Reading& reading, std::vector<WindowResult>* results,
                     std::vector<LateReading>* late) {
  if (device_id_.empty()) {
    device_id_ = reading.device_id;
    sensor_ = reading.sensor;
  }
  const int64_t t = reading.ts_ns;
  const bool session = spec_->kind == WindowKind::kSession;
  if (!(session ? AddSession(t, reading.value, results) : AddAligned(t, reading.value, results))) {
    late->push_back({.window = spec_->name, .reading = reading, .watermark_ns = watermark_});
    return;
  }
  const int64_t watermark = t - spec_->watermark_delay_ns;
  if (watermark <= watermark_) return;
  const int64_t before = watermark_;
  watermark_ = watermark;
  // Close the windows that end in (before, watermark], then let go of the gone: a prefix, as
  // ends grow with starts (equal sizes, or sessions that do not overlap).
  if (session) {
    for (Session& s : sessions_) {
      if (s.end > before && s.end <= watermark_) {
        Emit(s.start, s.end, s.emitted++, &s.values, results);
      }
    }
    sessions_.erase(sessions_.begin(),
                    std::find_if(sessions_.begin(), sessions_.end(),
                                 [&](const Session& s) { return !Gone(s.end); }));
    return;
  }
  EmitAligned(before == INT64_MIN ? INT64_MIN : FirstEndingAfter(before),
              FirstEndingAfter(watermark_) - slide(), results);
  const int64_t keep = FirstNotGone();  // a slice is needed while its last window is
  slices_.erase(slices_.begin(), std::find_if(slices_.begin(), slices_.end(),
                                              [&](const Slice& s) { return s.start >= keep; }));
  emitted_.erase(emitted_.begin(),
                 std::find_if(emitted_.begin(), emitted_.end(),
                              [&](const Emitted& e) { return !Gone(e.start + spec_->size_ns); }));
}

void KeyWindows::Flush(std::vector<WindowResult>* results) {
  // Every window that was closed was emitted then: what is left is the open.
  for (Session& s : sessions_) {
    if (s.end > watermark_) Emit(s.start, s.end, s.emitted++, &s.values, results);
  }
  sessions_.clear();
  if (!slices_.empty()) {
    EmitAligned(watermark_ == INT64_MIN ? INT64_MIN : FirstEndingAfter(watermark_),
                slices_.back().start, results);
  }
  slices_.clear();
  emitted_.clear();
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
  key_buffer_.assign(reading.device_id);
  key_buffer_.push_back('\0');
  key_buffer_.append(reading.sensor);
  auto it = keys_.find(key_buffer_);
  if (it == keys_.end()) {
    std::vector<KeyWindows> windows;
    for (const WindowSpec& spec : specs_) {
      if (spec.Applies(reading.sensor)) windows.emplace_back(&spec);
    }
    it = keys_.emplace(key_buffer_, std::move(windows)).first;
  }
  for (KeyWindows& w : it->second) w.Add(reading, results, late);
}

void KeyedWindows::Flush(std::vector<WindowResult>* results) {
  for (auto& [key, windows] : keys_) {
    for (KeyWindows& w : windows) w.Flush(results);
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
