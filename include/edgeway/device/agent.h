#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "edgeway/core/clock.h"
#include "edgeway/device/sources.h"
#include "edgeway/security/crypto.h"
#include "nlohmann/json.hpp"

namespace edgeway::device {

// How often to sample and when to publish. The twin's desired state can change each of them
// (keys interval_s, max_interval_s, deadband, heartbeat_s).
struct SamplingSettings {
  double interval_s = 5;       // sample period while values move
  double max_interval_s = 60;  // adaptive sampling stretches the period up to this while stable
  double deadband = 0;         // publish a sensor only when it moved more than this since sent
  double heartbeat_s = 300;    // ... or when this long has passed since it was last sent
};

struct AgentOptions {
  std::string device_id;
  std::string broker_url;
  std::string queue_path = "edgeway-device.db";  // on-disk queue (SQLite) for offline periods
  SamplingSettings sampling;
  std::vector<std::unique_ptr<Source>> sources;
  // Actuators by the desired key that drives them ("led": LedActuator(...)).
  std::map<std::string, std::unique_ptr<Actuator>> actuators;
  // Message protection with the device's key: none, signed envelopes, or sealed (AES-256-GCM
  // under a session agreed with the gateway by X25519; see security/envelope.h).
  enum class Protection { kNone, kSign, kSeal } protection = Protection::kNone;
  std::optional<security::PrivateKey> key;
  std::optional<security::PublicKey> gateway_key;  // pins the gateway in the handshake
  // Renewal starts after this many messages or this long; the old session carries on for the
  // handshake's round trip.
  uint64_t session_max_messages = 1'000'000;
  double session_max_age_s = 3600;
  // TLS to the broker (ssl:// URLs): CA, and this device's certificate and key for mTLS.
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  int qos = 1;
  int keepalive_s = 30;
  int reconnect_max_s = 30;
  Clock* clock = Clock::Real();
};

struct AgentStats {
  uint64_t samples = 0;             // sampling rounds
  uint64_t readings_read = 0;       // values read from sources
  uint64_t readings_published = 0;  // values queued for the broker (past the deadband)
  uint64_t messages_published = 0;  // messages queued (one per round with something to send)
  uint64_t messages_sent = 0;       // acknowledged by the broker
  uint64_t queued = 0;              // waiting in the on-disk queue
  // What a device publishing every value every interval_s would have sent over the same time,
  // and the share this agent saved (the seed's green-IoT point).
  uint64_t fixed_rate_messages = 0;
  uint64_t source_errors = 0;
  int64_t twin_version = 0;  // the desired version applied
  uint64_t sessions = 0;     // session handshakes completed (sealed mode)
  double interval_s = 0;     // the current sample period
};

// The device side: samples its sources, publishes SenML packs on devices/{id}/telemetry through
// an on-disk queue (SQLite) drained over one persistent MQTT session, so that nothing sampled
// while the broker is unreachable, or across a restart, is lost. Report by exception (deadband,
// heartbeat) and adaptive sampling; desired twin properties are applied (sampling settings,
// actuators) and reported back on devices/{id}/twin/reported. Deltas older than the applied
// version are ignored. Thread-safe.
class Agent {
 public:
  static absl::StatusOr<std::unique_ptr<Agent>> Start(AgentOptions options);
  ~Agent();
  void Stop();  // idempotent; what is queued stays on disk for the next start
  AgentStats stats() const;
  nlohmann::json Summary() const;

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeway::device
