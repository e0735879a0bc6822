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

double Percentile(const std::vector<double>& sorted, double p) {
  const double h = (static_cast<double>(sorted.size()) - 1) * p / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

bool KeyWindows::Gone(int64_t end) const {
  return watermark_ != INT64_MIN && end <= watermark_ - spec_->allowed_lateness_ns;
}

bool KeyWindows::AssignAligned(int64_t t, double value, std::vector<Pane*>* touched) {
  const int64_t size = spec_->size_ns;
  const int64_t slide = spec_->kind == WindowKind::kTumbling ? size : spec_->slide_ns;
  bool placed = false;
  for (int64_t start = FloorDiv(t, slide) * slide; start > t - size; start -= slide) {
    if (Gone(start + size)) continue;
    auto it = std::lower_bound(panes_.begin(), panes_.end(), start,
                               [](const Pane& p, int64_t s) { return p.start < s; });
    if (it == panes_.end() || it->start != start) {
      it = panes_.insert(it, Pane{.start = start, .end = start + size});
    }
    it->values.push_back(value);
    placed = true;
  }
  // Pointers only now: inserting above may have moved the panes.
  if (placed) {
    for (Pane& p : panes_) {
      if (p.start <= t && t < p.end && !Gone(p.end)) touched->push_back(&p);
    }
  }
  return placed;
}

bool KeyWindows::AssignSession(int64_t t, double value, std::vector<Pane*>* touched) {
  const int64_t end = t + spec_->gap_ns;
  if (Gone(end)) return false;
  // Sessions never overlap and are sorted, so the ones [t, end) touches are adjacent: they merge
  // into one, which takes the place of the first.
  Pane merged{.start = t, .end = end, .values = {value}};
  auto first = std::find_if(panes_.begin(), panes_.end(), [&](const Pane& p) { return p.end > t; });
  auto last = first;
  while (last != panes_.end() && last->start < end) {
    merged.start = std::min(merged.start, last->start);
    merged.end = std::max(merged.end, last->end);
    merged.values.insert(merged.values.end(), last->values.begin(), last->values.end());
    merged.revision = std::max(merged.revision, last->revision);
    merged.fired = merged.fired || last->fired;
    ++last;
  }
  auto at = panes_.erase(first, last);
  touched->push_back(&*panes_.insert(at, std::move(merged)));
  return true;
}

void KeyWindows::Emit(Pane* pane, std::vector<WindowResult>* results) {
  std::vector<double>& v = pane->values;
  std::sort(v.begin(), v.end());
  WindowResult& r = results->emplace_back();
  r.window = spec_->name;
  r.device_id = device_id_;
  r.sensor = sensor_;
  r.start_ns = pane->start;
  r.end_ns = pane->end;
  r.count = v.size();
  double sum = 0;
  for (double x : v) sum += x;
  r.mean = sum / static_cast<double>(v.size());
  double squares = 0;
  for (double x : v) squares += (x - r.mean) * (x - r.mean);
  r.stddev = std::sqrt(squares / static_cast<double>(v.size()));
  r.min = v.front();
  r.max = v.back();
  for (double p : spec_->percentiles) r.percentiles.emplace_back(p, Percentile(v, p));
  r.revision = pane->revision;
  pane->fired = true;
  ++pane->revision;
}

void KeyWindows::Add(const Reading& reading, std::vector<WindowResult>* results,
                     std::vector<LateReading>* late) {
  if (device_id_.empty()) {
    device_id_ = reading.device_id;
    sensor_ = reading.sensor;
  }
  const int64_t t = reading.ts_ns;
  std::vector<Pane*> touched;
  bool placed = spec_->kind == WindowKind::kSession ? AssignSession(t, reading.value, &touched)
                                                    : AssignAligned(t, reading.value, &touched);
  if (!placed) {
    late->push_back({.window = spec_->name, .reading = reading, .watermark_ns = watermark_});
    return;
  }
  // A window the watermark already closed, updated by a late reading: its result again.
  for (Pane* p : touched) {
    if (watermark_ != INT64_MIN && p->end <= watermark_) Emit(p, results);
  }
  const int64_t watermark = t - spec_->watermark_delay_ns;
  if (watermark <= watermark_) return;
  const int64_t before = watermark_;
  watermark_ = watermark;
  for (Pane& p : panes_) {
    if (p.end > before && p.end <= watermark_) Emit(&p, results);
  }
  // Ends grow with starts (equal sizes, or sessions that do not overlap): the gone are a prefix.
  auto keep =
      std::find_if(panes_.begin(), panes_.end(), [&](const Pane& p) { return !Gone(p.end); });
  panes_.erase(panes_.begin(), keep);
}

void KeyWindows::Flush(std::vector<WindowResult>* results) {
  for (Pane& p : panes_) {
    if (!p.fired || p.end > watermark_) Emit(&p, results);
  }
  panes_.clear();
}

size_t KeyWindows::buffered_values() const {
  size_t n = 0;
  for (const Pane& p : panes_) n += p.values.size();
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
