#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "edgeway/core/bounded_queue.h"
#include "edgeway/gateway/authenticator.h"
#include "edgeway/stream/analytics.h"
#include "edgeway/stream/event_window.h"
#include "edgeway/telemetry/decoder.h"
#include "edgeway/twin/twin.h"

namespace edgeway::gateway {

// Everything `edgeway run` reads from edgeway.yaml. edgeway.example.yaml documents each key
// with its default.
struct GatewayConfig {
  struct Mqtt {
    std::string broker;  // tcp://host:port or ssl://host:port; empty starts an embedded mosquitto
    std::string client_id = "edgeway-gateway";
    std::vector<std::string> topics = {"sensors/#", "devices/+/telemetry"};
    int64_t qos = 1;
    int64_t keepalive_s = 30;
    int64_t session_expiry_s = 7 * 24 * 3600;
    int64_t reconnect_max_s = 30;
    std::string tls_ca_file, tls_cert_file, tls_key_file;
    // The embedded broker's TLS listener requiring client certificates (edgeway certs makes the
    // files); off while ca_file is empty.
    struct EmbeddedTls {
      std::string ca_file, cert_file, key_file;
      std::string bind = "127.0.0.1";
      int64_t port = 8883;
    } embedded_tls;
  } mqtt;

  // What a sensor can read at all (ingest.plausible): a reading outside is refused and counted,
  // as a sensor's glitch (a reset value, a saturated converter) and not a measurement.
  struct PlausibleRange {
    std::vector<std::string> sensors;
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
    bool Holds(double x) const { return x >= min && x <= max; }
  };
  struct Ingest {
    DecoderOptions decoder;
    int64_t queue_capacity = 65536;  // readings per shard queue
    OverflowPolicy overflow = OverflowPolicy::kBlock;
    std::vector<PlausibleRange> plausible;
  } ingest;

  stream::AnalyticsOptions analytics;
  std::vector<stream::SensorAnalytics> analytics_per_sensor;  // analytics.per_sensor
  int64_t shards = 0;  // 0: one per 4 cores, at least 1, at most 8
  // Seconds between snapshots of the analytics state of the keys that changed, for a start after
  // a crash to go on from (it is saved at every stop too); 0: only at a stop.
  double analytics_save_interval_s = 900;
  // Seconds without a reading after which a key's analytics and windows are dropped (its open
  // windows closed first), so that the memory follows the devices that report; 0: never.
  double analytics_forget_after_s = 7 * 24 * 3600;
  std::vector<stream::WindowSpec> windows;  // event-time windows; none by default

  struct Store {
    std::string path = "edgeway.db";
    int64_t retention_hours = 7 * 24;  // 0 keeps everything
    int64_t flush_interval_ms = 100;
    int64_t group_commit_ms = 0;
    int64_t max_rows_per_transaction = 5000;
    bool synchronous_full = false;
  } store;

  // Store-and-forward to an upstream broker, through the store's outbox.
  struct Upstream {
    std::string url;                 // tcp:// or ssl://; empty: nothing is forwarded
    std::string client_id;           // empty: mqtt.client_id + "-upstream"
    std::string prefix = "edgeway";  // messages go to {prefix}/{device_id}/senml
    bool readings = true;            // what `forward` lists
    bool insights = false;
    bool windows = false;
    int64_t qos = 1;
    int64_t max_bytes = 256LL << 20;  // outbox limit (payload bytes)
    bool drop_oldest = true;          // at the limit: drop the oldest, or refuse new (false)
    double max_messages_per_s = 0;    // drain rate limit; 0: none
    int64_t max_records_per_message = 100;
    std::string tls_ca_file, tls_cert_file, tls_key_file;
  } upstream;

  // Device twins: reported follows telemetry, desired is set over the API (edgeway twin set).
  struct Twins {
    bool enabled = true;
    int64_t max_bytes = 8192;  // of desired, and of reported
    int64_t max_depth = 6;
    int64_t flush_interval_ms = 5000;       // telemetry-reported values are saved this often
    std::vector<twin::SensorLimit> limits;  // predictive maintenance: forecast time to cross
  } twins;

  struct Security {
    SecurityMode require = SecurityMode::kNone;  // none, signed, sealed or authenticated
    int64_t max_skew_s = 300;
    int64_t session_max_age_s = 24 * 3600;
    std::string gateway_key;  // empty: {store.path}.gateway.key, made on the first handshake
  } security;

  struct Http {
    std::string listen = "127.0.0.1:8080";  // dashboard, API and /metrics; "off" disables
    std::string token;  // bearer token; required when listen is not a loopback address
  } http;

  std::string log_level = "info";
};

// Parses YAML text; `source_name` names it in errors ("edgeway.yaml:12: ...").
absl::StatusOr<GatewayConfig> ParseConfig(std::string_view yaml, const std::string& source_name);
// Reads and parses a file. NotFound when it cannot be opened.
absl::StatusOr<GatewayConfig> LoadConfig(const std::string& path);

}  // namespace edgeway::gateway
