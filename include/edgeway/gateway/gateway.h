#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "edgeway/core/clock.h"
#include "edgeway/gateway/config.h"
#include "edgeway/store/batch_writer.h"
#include "edgeway/telemetry/reading.h"
#include "nlohmann/json.hpp"

namespace edgeway::gateway {

// Counters of the data path, read at any time from any thread.
struct GatewayStats {
  uint64_t messages_received = 0;  // MQTT messages handed to the decoder
  uint64_t messages_rejected = 0;  // of those, refused (`rejected` of the message reasons)
  uint64_t readings_rejected = 0;  // readings refused one by one (`rejected`, CountsReadings)
  std::array<uint64_t, kRejectReasonCount> rejected{};  // by RejectReason
  uint64_t readings_received = 0;                       // readings decoded from accepted messages
  uint64_t clock_substituted = 0;   // readings given the receive time for an implausible clock
  uint64_t timestamp_missing = 0;   // readings given the receive time for having none
  uint64_t readings_processed = 0;  // through the analytics
  uint64_t anomalies_detected = 0;
  uint64_t stuck_sensors = 0;  // stuck insights: a sensor reading one value for too long
  int64_t readings_stored = 0;
  int64_t readings_duplicate = 0;  // redelivered by the broker, recognised and not stored twice
  int64_t insights_stored = 0;
  int64_t window_results_stored = 0;   // window results written, revisions included
  uint64_t late_readings = 0;          // missed every window they belong to (kept in late_readings)
  int64_t analytics_states_saved = 0;  // keys' analytics state saved by snapshots (not the stop)
  // Upstream outbox: messages queued, acknowledged upstream and deleted, dropped by the limit,
  // and waiting (as last read, every half second).
  int64_t outbox_enqueued = 0;
  uint64_t outbox_forwarded = 0;
  int64_t outbox_dropped = 0;
  int64_t outbox_backlog = 0;
  int64_t outbox_backlog_bytes = 0;
  bool upstream_connected = false;
  int64_t store_failed = 0;           // rows lost to store errors after retries
  int64_t store_expired = 0;          // rows deleted by store.retention_hours
  uint64_t devices = 0;               // distinct devices seen
  uint64_t keys = 0;                  // distinct (device, sensor) keys with state
  uint64_t keys_forgotten = 0;        // dropped after analytics.forget_after_s without a reading
  uint64_t queued = 0;                // readings waiting in shard queues
  uint64_t store_queued_batches = 0;  // result batches waiting for the store writer
};

struct GatewayOptions {
  GatewayConfig config;
  Clock* clock = Clock::Real();
  // Also called, on the store's writer thread, after each commit.
  store::CommitObserver on_commit;
  // Called, on the store's writer thread, after each retention step that deleted rows.
  store::ExpiryObserver on_expire;
};

// The gateway's data path: subscribe (MQTT 5, QoS 1, persistent session), decode, route by key
// to analytics shards, store readings and insights. Starts an embedded mosquitto when the config
// names no broker. Thread-safe.
class Gateway {
 public:
  // Opens the store, starts the broker if needed, the shards and the MQTT client, and waits up to
  // 10 s for the subscription. Errors name the file or URL at fault.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayOptions options);
  ~Gateway();

  // Stops taking messages, drains the shard queues, flushes the store, saves every key's
  // analytics state for the next start to go on from, stops the embedded broker. Nothing
  // accepted is lost. Idempotent.
  void Stop();

  GatewayStats stats() const;
  // The run summary: the counters above as JSON, rejects as an object by reason.
  nlohmann::json Summary() const;
  // The broker the gateway is subscribed to (the embedded one's URL when it started one).
  const std::string& broker_url() const;
  bool connected() const;
  const GatewayConfig& config() const;
  // Device twins; null when twins.enabled is false.
  twin::TwinRegistry* twins() const;
  // Runs `fn` between two commits of the store (see store::BatchWriter::BetweenCommits): a
  // reader that opens its snapshot in `fn` sees exactly the commits and retention steps that
  // on_commit and on_expire were called for before it.
  void BetweenCommits(absl::FunctionRef<void()> fn) const;

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  // Replaces the analytics state in the store with the chunks `next_chunk` gives until none.
  void SaveAnalyticsState(absl::FunctionRef<std::vector<SavedKeyState>()> next_chunk);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeway::gateway
