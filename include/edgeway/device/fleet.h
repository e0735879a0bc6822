#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "edgeway/core/clock.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::device {

// The wire format a simulated device speaks.
enum class WireFormat {
  kSeedJson,    // {"device_id", "timestamp", "temperature", ...} on devices/{id}/telemetry
  kSenml,       // RFC 8428 pack with base name "{id}:" on devices/{id}/telemetry
  kPythonDict,  // str(dict) with single quotes, on sensors/temperature, as the seed's device
};

struct FleetOptions {
  std::string broker_url;
  size_t devices = 10;
  std::string id_prefix = "sim-";
  double interval_s = 1.0;  // seconds between two samples of one device
  int qos = 1;
  uint64_t seed = 1;
  // Every device injects an anomaly into one of its sensors every `anomaly_every` samples (at a
  // per-device offset, never in its first `anomaly_after` samples: a detector's warmup); 0
  // disables.
  uint64_t anomaly_every = 200;
  uint64_t anomaly_after = 20;
  // One device in `stuck_every` has one sensor stuck once: from a per-device sample after the
  // warmup, it sends the same value `stuck_samples` times; 0 disables.
  uint64_t stuck_every = 10;
  uint64_t stuck_samples = 25;
  // Every `bad_every` messages the fleet also publishes one malformed message; 0 disables.
  uint64_t bad_every = 0;
  // Of the devices, these shares speak SenML and the seed's Python-dict text (the rest the
  // seed's JSON). A quarter of the Python-dict devices have a MicroPython clock counting from 2000.
  double senml_share = 0.2;
  double python_dict_share = 0.2;
  // Stop after this many samples per device; 0 runs until Stop().
  uint64_t samples_per_device = 0;
  Clock* clock = Clock::Real();
};

// An anomaly the fleet injected: a spike (kind kAnomaly) at the reading's event time as the
// gateway should see it, or a stuck sensor (kind kStuck) from its first repeated reading's, once
// it has sent all `stuck_samples` of them.
struct InjectedAnomaly {
  std::string device_id;
  std::string sensor;
  int64_t ts_ns = 0;
  double value = 0;
  Insight::Kind kind = Insight::Kind::kAnomaly;
};

// How many of `injected` were flagged: an insight of the same kind for the same device and
// sensor with an event time from `tolerance_ns` before to `tolerance_ns + late_ns` after the
// injected one (a device clock replaced by the receive time lags the publish time by the
// delivery delay; a stuck sensor is found some readings in). Each insight matches at most one
// injected anomaly.
size_t CountDetected(const std::vector<InjectedAnomaly>& injected,
                     const std::vector<Insight>& insights, int64_t tolerance_ns, int64_t late_ns);

// A simulated fleet publishing over one MQTT connection from its own thread: per device,
// temperature (deg C), humidity (%RH) and battery (%) with a daily cycle and Gaussian noise,
// plus spikes and stuck sensors at known times. Thread-safe accessors.
class Fleet {
 public:
  // Connects (waiting up to 10 s) and starts publishing. Errors: InvalidArgument for bad
  // options, Unavailable when the broker cannot be reached.
  static absl::StatusOr<std::unique_ptr<Fleet>> Start(FleetOptions options);
  ~Fleet();

  // Stops publishing and waits for QoS 1 acknowledgements (up to 10 s). Idempotent.
  void Stop();
  // True once every device has sent samples_per_device samples.
  bool done() const { return done_.load(std::memory_order_acquire); }

  uint64_t messages_published() const { return published_.load(std::memory_order_relaxed); }
  uint64_t bad_published() const { return bad_published_.load(std::memory_order_relaxed); }
  uint64_t publish_errors() const { return publish_errors_.load(std::memory_order_relaxed); }
  std::vector<InjectedAnomaly> injected() const;
  // The format device `index` speaks, and its id.
  WireFormat format_of(size_t index) const;
  std::string device_id(size_t index) const;

 private:
  struct Impl;
  explicit Fleet(std::unique_ptr<Impl> impl);
  void Run();

  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> bad_published_{0};
  std::atomic<uint64_t> publish_errors_{0};
  mutable std::mutex mu_;
  std::vector<InjectedAnomaly> injected_;  // guarded by mu_
};

}  // namespace edgeway::device
