#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "edgeway/core/clock.h"
#include "edgeway/telemetry/reading.h"
#include "nlohmann/json.hpp"

namespace edgeway::twin {

using nlohmann::json;

struct TwinLimits {
  size_t max_bytes = 8 * 1024;  // of `desired`, and of `reported`, as JSON text
  int max_depth = 6;            // nesting of objects within desired or reported
};

// A device twin as AWS IoT device shadows define one: `reported` (what the device says, and the
// latest value of each sensor), `desired` (what the operator wants), `delta` (desired fields that
// reported does not match), a version, and the update time of every field.
//
// Updates are JSON merge patches (RFC 7386): objects merge, other values replace, null deletes.
// `version` counts changes of `desired`: an update that names another version than the current
// one is refused (optimistic locking), and a device ignores deltas older than what it has.
class TwinDocument {
 public:
  enum class Section { kReported, kDesired };

  const json& reported() const { return reported_; }
  const json& desired() const { return desired_; }
  int64_t version() const { return version_; }
  // Desired fields (recursively) whose reported value is missing or different.
  json Delta() const;

  // Merges `patch` (an object) into a section. Errors: InvalidArgument (not an object, or past
  // the size or depth limit), Aborted (`expected_version` is not the current version). Nothing
  // changes on error. A desired update that changes something increments the version.
  absl::Status Update(Section section, const json& patch, std::optional<int64_t> expected_version,
                      int64_t now_ns, const TwinLimits& limits);

  // {"version", "state": {"reported", "desired", "delta"}, "metadata": {"reported": {path: t},
  //  "desired": {path: t}}} with times in seconds since the epoch.
  json ToJson() const;
  // The inverse of ToJson (for the store); InvalidArgument on a malformed document.
  static absl::StatusOr<TwinDocument> FromJson(const json& j);

 private:
  json reported_ = json::object();
  json desired_ = json::object();
  std::map<std::string, int64_t> reported_times_, desired_times_;  // dotted path -> ns
  int64_t version_ = 0;
};

// A limit a sensor should not cross, for predictive maintenance: the twin shows when the
// sensor's trend will cross it.
struct SensorLimit {
  std::string sensor;
  double value = 0;
  bool above = true;  // true: alarm when rising past `value`; false: when falling below it
};

// Forecast of the time a series crosses a limit: Holt's linear method on irregular event time
// (level, and slope per second), O(1) per reading.
class LimitForecaster {
 public:
  void Update(int64_t ts_ns, double value);
  // Seconds from the last reading until the trend crosses `limit`, or nullopt when it moves away
  // from it (or too few readings). 0 when already past.
  std::optional<double> SecondsUntil(const SensorLimit& limit) const;
  double slope_per_s() const { return slope_; }
  int64_t last_ns() const { return last_ns_; }

 private:
  double level_ = 0, slope_ = 0;
  int64_t last_ns_ = 0;
  int count_ = 0;
};

struct TwinOptions {
  std::string store_path;
  TwinLimits limits;
  std::vector<SensorLimit> sensor_limits;
  int64_t flush_interval_ms = 1000;  // reported values from telemetry are saved this often
  Clock* clock = Clock::Real();
};

// Called when desired changed: the device's delta (may be empty), its whole desired state and
// the new version. Runs on the caller's thread of UpdateDesired, outside the registry's lock.
using DesiredObserver = std::function<void(const std::string& device_id, const json& delta,
                                           const json& desired, int64_t version)>;

// Every device's twin, kept in memory and in the store's twins table. Desired updates are saved
// before UpdateDesired returns; reported values that follow telemetry are saved every
// flush_interval_ms and on Stop. Thread-safe.
class TwinRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<TwinRegistry>> Open(TwinOptions options,
                                                            DesiredObserver observer = nullptr);
  ~TwinRegistry();

  // The twin as TwinDocument::ToJson, plus "device" and, for limited sensors, "maintenance":
  // {sensor: {"limit", "direction", "slope_per_hour", "eta_s", "eta"}}. NotFound if none.
  absl::StatusOr<json> Get(const std::string& device_id) const;
  std::vector<std::string> Devices() const;

  // An operator's change of desired (creates the twin when the device has none yet).
  absl::StatusOr<json> UpdateDesired(const std::string& device_id, const json& patch,
                                     std::optional<int64_t> expected_version);
  // What the device reports of itself (on devices/{id}/twin/reported).
  absl::Status UpdateReported(const std::string& device_id, const json& patch);
  // The latest value of each sensor becomes reported.{sensor}.
  void ReportReadings(std::span<const Reading> readings);

  // Saves what is unsaved and stops the flusher. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit TwinRegistry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeway::twin
