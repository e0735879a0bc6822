#include "edgeway/twin/twin.h"

#include <condition_variable>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/log.h"
#include "edgeway/core/strings.h"
#include "edgeway/store/store.h"
#include "spdlog/spdlog.h"

namespace edgeway::twin {
namespace {

int Depth(const json& j) {
  if (!j.is_object() && !j.is_array()) return 0;
  int deepest = 0;
  for (const json& child : j) deepest = std::max(deepest, Depth(child));
  return 1 + deepest;
}

void EraseTimes(std::map<std::string, int64_t>* times, const std::string& path) {
  auto it = times->lower_bound(path);
  while (it != times->end() && (it->first == path || it->first.starts_with(path + "."))) {
    it = times->erase(it);
  }
}

// RFC 7386 merge of `patch` into `target`, keeping the update time of every leaf it sets.
bool Merge(json& target, const json& patch, const std::string& path,
           std::map<std::string, int64_t>* times, int64_t now_ns) {
  bool changed = false;
  for (const auto& [key, value] : patch.items()) {
    const std::string field = path.empty() ? key : StrCat(path, ".", key);
    if (value.is_null()) {
      if (target.erase(key) > 0) {
        EraseTimes(times, field);
        changed = true;
      }
    } else if (value.is_object()) {
      if (!target.contains(key) || !target[key].is_object()) {
        if (target.contains(key)) EraseTimes(times, field);
        target[key] = json::object();
        changed = true;
      }
      changed = Merge(target[key], value, field, times, now_ns) || changed;
      if (target[key].empty()) target.erase(key);
    } else if (!target.contains(key) || target[key] != value) {
      if (target.contains(key) && target[key].is_object()) EraseTimes(times, field);
      target[key] = value;
      (*times)[field] = now_ns;
      changed = true;
    }
  }
  return changed;
}

json DeltaOf(const json& desired, const json& reported) {
  json delta = json::object();
  for (const auto& [key, want] : desired.items()) {
    if (!reported.contains(key)) {
      delta[key] = want;
    } else if (want.is_object() && reported[key].is_object()) {
      json sub = DeltaOf(want, reported[key]);
      if (!sub.empty()) delta[key] = std::move(sub);
    } else if (want != reported[key]) {
      delta[key] = want;
    }
  }
  return delta;
}

json TimesJson(const std::map<std::string, int64_t>& times) {
  json out = json::object();
  for (const auto& [path, ns] : times) out[path] = static_cast<double>(ns) / 1e9;
  return out;
}

void ReadTimes(const json& j, std::map<std::string, int64_t>* times) {
  if (!j.is_object()) return;
  for (const auto& [path, seconds] : j.items()) {
    if (!seconds.is_number()) continue;
    if (std::optional<int64_t> ns = SecondsToNs(seconds.get<double>())) (*times)[path] = *ns;
  }
}

}  // namespace

json TwinDocument::Delta() const { return DeltaOf(desired_, reported_); }

absl::Status TwinDocument::Update(Section section, const json& patch,
                                  std::optional<int64_t> expected_version, int64_t now_ns,
                                  const TwinLimits& limits) {
  const char* name = section == Section::kDesired ? "desired" : "reported";
  if (!patch.is_object()) {
    return absl::InvalidArgumentError(StrCat(name, " must be a JSON object"));
  }
  if (expected_version && *expected_version != version_) {
    return absl::AbortedError(StrCat("version conflict: the twin is at version ", version_,
                                     ", the update names ", *expected_version));
  }
  json& target = section == Section::kDesired ? desired_ : reported_;
  auto& times = section == Section::kDesired ? desired_times_ : reported_times_;
  json updated = target;
  std::map<std::string, int64_t> updated_times = times;
  const bool changed = Merge(updated, patch, "", &updated_times, now_ns);
  if (int depth = Depth(updated); depth > limits.max_depth) {
    return absl::InvalidArgumentError(
        StrCat(name, " would be nested ", depth, " deep; the limit is ", limits.max_depth));
  }
  if (size_t bytes = updated.dump().size(); bytes > limits.max_bytes) {
    return absl::InvalidArgumentError(
        StrCat(name, " would take ", bytes, " bytes; the limit is ", limits.max_bytes));
  }
  target = std::move(updated);
  times = std::move(updated_times);
  if (section == Section::kDesired && changed) ++version_;
  return absl::OkStatus();
}

json TwinDocument::ToJson() const {
  return {{"version", version_},
          {"state", {{"reported", reported_}, {"desired", desired_}, {"delta", Delta()}}},
          {"metadata",
           {{"reported", TimesJson(reported_times_)}, {"desired", TimesJson(desired_times_)}}}};
}

absl::StatusOr<TwinDocument> TwinDocument::FromJson(const json& j) {
  if (!j.is_object() || !j.contains("state") || !j["state"].is_object() || !j.contains("version") ||
      !j["version"].is_number_integer()) {
    return absl::InvalidArgumentError("not a twin document");
  }
  TwinDocument doc;
  doc.version_ = j["version"].get<int64_t>();
  const json& state = j["state"];
  if (state.contains("reported") && state["reported"].is_object()) {
    doc.reported_ = state["reported"];
  }
  if (state.contains("desired") && state["desired"].is_object()) doc.desired_ = state["desired"];
  if (j.contains("metadata") && j["metadata"].is_object()) {
    const json& m = j["metadata"];
    if (m.contains("reported")) ReadTimes(m["reported"], &doc.reported_times_);
    if (m.contains("desired")) ReadTimes(m["desired"], &doc.desired_times_);
  }
  return doc;
}

void LimitForecaster::Update(int64_t ts_ns, double value) {
  constexpr double kAlpha = 0.3, kBeta = 0.1;
  if (count_ == 0) {
    level_ = value;
    last_ns_ = ts_ns;
  } else {
    const double dt = static_cast<double>(ts_ns - last_ns_) / 1e9;
    if (dt <= 0) {
      level_ = kAlpha * value + (1 - kAlpha) * level_;
    } else {
      const double level = kAlpha * value + (1 - kAlpha) * (level_ + slope_ * dt);
      slope_ = kBeta * (level - level_) / dt + (1 - kBeta) * slope_;
      level_ = level;
      last_ns_ = ts_ns;
    }
  }
  ++count_;
}

std::optional<double> LimitForecaster::SecondsUntil(const SensorLimit& limit) const {
  if (count_ < 3) return std::nullopt;
  if (limit.above ? level_ >= limit.value : level_ <= limit.value) return 0.0;
  if (limit.above ? slope_ <= 0 : slope_ >= 0) return std::nullopt;
  return (limit.value - level_) / slope_;
}

struct TwinRegistry::Impl {
  struct Entry {
    TwinDocument doc;
    absl::flat_hash_map<std::string, LimitForecaster> forecasts;  // limited sensors only
    bool dirty = false;
    LogRateLimiter reject_log;
  };

  TwinOptions options;
  DesiredObserver observer;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;                // guarded by mu
  std::unique_ptr<store::Store> store;  // guarded by mu
  std::map<std::string, Entry> twins;   // guarded by mu
  std::thread flusher;

  const SensorLimit* LimitOf(std::string_view sensor) const {
    for (const SensorLimit& l : options.sensor_limits) {
      if (l.sensor == sensor) return &l;
    }
    return nullptr;
  }

  json Maintenance(const Entry& e) const {
    json out = json::object();
    for (const SensorLimit& l : options.sensor_limits) {
      auto it = e.forecasts.find(l.sensor);
      if (it == e.forecasts.end()) continue;
      std::optional<double> eta = it->second.SecondsUntil(l);
      json m = {{"limit", l.value},
                {"direction", l.above ? "above" : "below"},
                {"slope_per_hour", it->second.slope_per_s() * 3600},
                {"eta_s", eta ? json(*eta) : json(nullptr)},
                {"eta", nullptr}};
      if (eta) {
        absl::Time at = absl::FromUnixNanos(it->second.last_ns()) + absl::Seconds(*eta);
        m["eta"] = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", at, absl::UTCTimeZone());
      }
      out[l.sensor] = std::move(m);
    }
    return out;
  }

  // Saves the dirty twins (or only `device`). Call with mu held.
  absl::Status SaveLocked(const std::string* device) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (auto& [id, e] : twins) {
      if (device != nullptr ? id != *device : !e.dirty) continue;
      rows.emplace_back(id, e.doc.ToJson().dump(-1, ' ', false, json::error_handler_t::replace));
    }
    absl::Status s = store->SaveTwins(rows);
    if (s.ok()) {
      for (auto& [id, doc] : rows) twins[id].dirty = false;
    }
    return s;
  }

  void Flush() {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait_for(lock, std::chrono::milliseconds(options.flush_interval_ms));
      if (absl::Status s = SaveLocked(nullptr); !s.ok()) spdlog::error("twins: {}", s.message());
    }
  }
};

TwinRegistry::TwinRegistry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TwinRegistry::~TwinRegistry() { Stop(); }

absl::StatusOr<std::unique_ptr<TwinRegistry>> TwinRegistry::Open(TwinOptions options,
                                                                 DesiredObserver observer) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->observer = std::move(observer);
  auto store = store::Store::Open({.path = impl->options.store_path});
  if (!store.ok()) return store.status();
  impl->store = std::move(*store);
  auto rows = impl->store->LoadTwins();
  if (!rows.ok()) return rows.status();
  for (const auto& [device, text] : *rows) {
    auto doc = TwinDocument::FromJson(json::parse(text, nullptr, false));
    if (!doc.ok()) {
      spdlog::warn("twins: {}: {}; starting it afresh", device, doc.status().message());
      continue;
    }
    impl->twins[device].doc = std::move(*doc);
  }
  Impl* p = impl.get();
  impl->flusher = std::thread([p] { p->Flush(); });
  return std::unique_ptr<TwinRegistry>(new TwinRegistry(std::move(impl)));
}

void TwinRegistry::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->flusher.joinable()) impl_->flusher.join();
  std::lock_guard lock(impl_->mu);
  if (absl::Status s = impl_->SaveLocked(nullptr); !s.ok()) {
    spdlog::error("twins: {}", s.message());
  }
}

absl::StatusOr<json> TwinRegistry::Get(const std::string& device_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->twins.find(device_id);
  if (it == impl_->twins.end()) {
    return absl::NotFoundError(StrCat("no twin for device '", device_id, "'"));
  }
  json j = it->second.doc.ToJson();
  j["device"] = device_id;
  if (!impl_->options.sensor_limits.empty()) j["maintenance"] = impl_->Maintenance(it->second);
  return j;
}

std::vector<std::string> TwinRegistry::Devices() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  for (const auto& [id, e] : impl_->twins) out.push_back(id);
  return out;
}

absl::StatusOr<json> TwinRegistry::UpdateDesired(const std::string& device_id, const json& patch,
                                                 std::optional<int64_t> expected_version) {
  json delta, desired;
  int64_t version = 0;
  {
    std::lock_guard lock(impl_->mu);
    auto [it, added] = impl_->twins.try_emplace(device_id);
    TwinDocument updated = it->second.doc;
    absl::Status s = updated.Update(TwinDocument::Section::kDesired, patch, expected_version,
                                    impl_->options.clock->NowNs(), impl_->options.limits);
    if (!s.ok()) {
      if (added) impl_->twins.erase(it);
      return s;
    }
    std::swap(it->second.doc, updated);
    // Saved before the caller hears of it: an acknowledged desired state survives a crash.
    if (absl::Status saved = impl_->SaveLocked(&device_id); !saved.ok()) {
      std::swap(it->second.doc, updated);
      if (added) impl_->twins.erase(it);
      return saved;
    }
    delta = it->second.doc.Delta();
    desired = it->second.doc.desired();
    version = it->second.doc.version();
  }
  if (impl_->observer) impl_->observer(device_id, delta, desired, version);
  return Get(device_id);
}

absl::Status TwinRegistry::UpdateReported(const std::string& device_id, const json& patch) {
  std::lock_guard lock(impl_->mu);
  Impl::Entry& e = impl_->twins[device_id];
  absl::Status s = e.doc.Update(TwinDocument::Section::kReported, patch, std::nullopt,
                                impl_->options.clock->NowNs(), impl_->options.limits);
  if (s.ok()) e.dirty = true;
  return s;
}

void TwinRegistry::ReportReadings(std::span<const Reading> readings) {
  if (readings.empty()) return;
  // The newest value of each sensor, one patch per device.
  std::map<std::string, json> patches;
  for (const Reading& r : readings) {
    json& patch = patches[r.device_id];
    if (patch.is_null()) patch = json::object();
    patch[r.sensor] = r.value;
  }
  const int64_t now = impl_->options.clock->NowNs();
  std::lock_guard lock(impl_->mu);
  for (const Reading& r : readings) {
    if (impl_->LimitOf(r.sensor) != nullptr) {
      impl_->twins[r.device_id].forecasts[r.sensor].Update(r.ts_ns, r.value);
    }
  }
  for (auto& [device, patch] : patches) {
    Impl::Entry& e = impl_->twins[device];
    absl::Status s = e.doc.Update(TwinDocument::Section::kReported, patch, std::nullopt, now,
                                  impl_->options.limits);
    if (s.ok()) {
      e.dirty = true;
    } else if (uint64_t suppressed = 0; e.reject_log.Allow(MonotonicNs(), &suppressed)) {
      spdlog::warn("twin of {}: telemetry not reported: {}", device, s.message());
    }
  }
}

}  // namespace edgeway::twin
