#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "edgeway/telemetry/reading.h"

namespace edgeway::store {

struct StoreOptions {
  std::string path = "edgeway.db";
  bool read_only = false;
  // PRAGMA synchronous: NORMAL (default) loses at most the last transactions on power loss, never
  // corrupts; FULL syncs every commit.
  bool synchronous_full = false;
  // Outbox limit in payload bytes (0: none). When a write would pass it, the oldest messages are
  // deleted to make room (drop_oldest) or the new ones are refused (refuse_new); either way
  // they are counted in WriteStats::outbox_dropped.
  int64_t outbox_max_bytes = 0;
  bool outbox_drop_oldest = true;
};

// A message in the outbox, by its sequence number (increasing, never reused).
struct OutboxRow {
  int64_t seq = 0;
  std::string device_id;
  std::string topic;
  std::string payload;
};

struct OutboxSize {
  int64_t messages = 0;
  int64_t bytes = 0;  // payload bytes
  bool operator==(const OutboxSize&) const = default;
};

struct WriteStats {
  int64_t readings_inserted = 0;
  int64_t readings_duplicate = 0;  // same (device, sensor, ts) already stored: a redelivery
  int64_t insights_inserted = 0;
  int64_t window_results_written = 0;  // new or revised
  int64_t late_readings_inserted = 0;
  int64_t outbox_enqueued = 0;
  int64_t outbox_dropped = 0;          // by the outbox limit: old ones deleted, or new ones refused
  int64_t analytics_states_saved = 0;  // keys' analytics state, each in place of its last
};

// What one retention step deleted.
struct Expired {
  // What it deleted of one device: its readings, and its insights of kind anomaly.
  struct Device {
    int64_t readings = 0;
    int64_t anomalies = 0;
  };
  int64_t rows = 0;  // of every table
  std::map<std::string, Device> devices;
};

struct ReadingQuery {
  std::string device_id;      // empty: all devices
  std::string sensor;         // empty: all sensors
  int64_t from_ns = 0;        // inclusive
  int64_t to_ns = INT64_MAX;  // exclusive
  int64_t limit = 1000;
  bool latest = false;  // the newest `limit` rows of the range instead of the oldest
};

struct InsightQuery {
  std::string device_id;
  std::optional<Insight::Kind> kind;
  int64_t from_ns = 0;
  int64_t to_ns = INT64_MAX;
  int64_t limit = 1000;
  bool latest = false;
};

struct WindowQuery {
  std::string window;  // empty: every declared window
  std::string device_id;
  std::string sensor;
  int64_t from_ns = 0;        // on the window start, inclusive
  int64_t to_ns = INT64_MAX;  // on the window start, exclusive
  int64_t limit = 1000;
  bool latest = false;
};

// A device the gateway knows by its key (the registry).
struct RegisteredDevice {
  std::string device_id;
  std::string key_type;             // ecdsa-p256 or ed25519
  std::string public_key;           // PEM
  std::vector<std::string> topics;  // MQTT filters it may publish on; empty: any
  bool revoked = false;
  int64_t created_ns = 0;
  int64_t updated_ns = 0;
  uint64_t high_seq = 0;  // replay protection: the highest sequence number accepted
};

// A device's message session (sealed mode), kept so that a gateway restart does not cut it.
struct StoredSession {
  std::string device_id;
  std::string session_id;
  std::string key;           // 32 bytes
  std::string nonce_prefix;  // 4 bytes
  int64_t created_ns = 0;
};

// What the store holds for one (device, sensor) key.
struct KeySummary {
  std::string device_id;
  std::string sensor;
  int64_t readings = 0;
  int64_t last_ts_ns = 0;
  int64_t last_received_ns = 0;
  double last_value = 0;
  std::string unit;
  int64_t anomalies = 0;
};

// Readings and insights in one SQLite file, in WAL mode so readers never block the writer.
//
// Layout (schema version 8, also in PRAGMA user_version):
//   meta(key TEXT PRIMARY KEY, value TEXT)           -- schema_version, created_at
//   readings(device, sensor, ts_ns, value, unit, location, tags JSON, flags, received_ns)
//       PRIMARY KEY (device, sensor, ts_ns), WITHOUT ROWID: one row per reading; a redelivered
//       reading (MQTT QoS 1 is at-least-once) is recognised and not stored twice.
//       INDEX readings_ts (ts_ns) for retention and time-range scans.
//   insights(id INTEGER PRIMARY KEY, device, sensor, ts_ns, kind, summary, actions JSON,
//            confidence, value, expected, score), INDEX insights_ts (ts_ns), INDEX
//            insights_device (device, ts_ns) (since version 8).
//   window_results(window, device, sensor, start_ns, end_ns, count, mean, min, max, stddev,
//                  percentiles JSON [[p, value], ...], revision)
//       PRIMARY KEY (window, device, sensor, start_ns): a revision replaces the result before
//       it, and a merged session replaces the sessions it swallowed. (since version 2)
//   late_readings(id INTEGER PRIMARY KEY, window, device, sensor, ts_ns, value, watermark_ns,
//                 received_ns): the windows' side output. (since version 2)
//   outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, device, topic, payload BLOB, created_ns): what
//       waits for the upstream broker, oldest first; outbox_size(messages, bytes) kept by
//       triggers. (since version 3)
//   twins(device TEXT PRIMARY KEY, doc TEXT JSON, updated_ns). (since version 4)
//   registry(device TEXT PRIMARY KEY, key_type, public_key PEM, topics JSON, revoked,
//            created_ns, updated_ns, high_seq). (since version 5)
//   sessions(device, session_id, key BLOB, nonce_prefix BLOB, created_ns): the two newest
//            sessions per device. (since version 6)
//   analytics_state(device, sensor, state BLOB) PRIMARY KEY (device, sensor), WITHOUT ROWID:
//       each key's analytics state, saved at a stop and by snapshots, for the next start.
//       (since version 7)
// Older files are upgraded in place when opened for writing.
//
// One Store is one connection: not thread-safe. Open a second (read_only) Store to read from
// another thread.
class Store {
 public:
  static constexpr int kSchemaVersion = 8;

  // Opens or creates the file and brings its schema to kSchemaVersion. Errors name the path:
  // Unavailable when the file cannot be opened, FailedPrecondition when it was written by a newer
  // schema or is not an edgeway store.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  virtual ~Store() = default;

  // Writes everything in `batch` in one transaction: all or nothing.
  virtual absl::StatusOr<WriteStats> Write(const ResultBatch& batch) = 0;
  // Deletes rows with event time (windows: end) before `cutoff_ns`, the oldest first, about
  // `max_rows` of each table (more when several share the last time deleted); returns what it
  // deleted. Call again until it deletes no rows: each call is one transaction, so that a large
  // backlog is deleted in steps between the writer's commits.
  virtual absl::StatusOr<Expired> DeleteOlderThan(int64_t cutoff_ns, int64_t max_rows) = 0;

  // Readings matching `query`, oldest first.
  virtual absl::StatusOr<std::vector<Reading>> Readings(const ReadingQuery& query) = 0;
  // Insights matching `query`, oldest first.
  virtual absl::StatusOr<std::vector<Insight>> Insights(const InsightQuery& query) = 0;
  // For each (device, sensor) key in turn, its readings from `from(device, sensor, newest)` on,
  // where `newest` is the event time of the key's newest reading; oldest first, one at a time to
  // `fn` (however many, in little memory): what event-time windows open at a restart held. Only
  // the device, sensor, event time, value and receive time are read.
  using FromFn =
      absl::FunctionRef<int64_t(std::string_view device, std::string_view sensor, int64_t newest)>;
  virtual absl::Status ForEachRecentReading(FromFn from,
                                            absl::FunctionRef<void(const Reading&)> fn) = 0;
  // Window results matching `query`, by start then window, device, sensor.
  virtual absl::StatusOr<std::vector<WindowResult>> WindowResults(const WindowQuery& query) = 0;
  // Late readings (the windows' side output) matching `query` on their event time: the newest
  // `limit` to arrive, in arrival order (`latest` is implied).
  virtual absl::StatusOr<std::vector<LateReading>> LateReadings(const WindowQuery& query) = 0;
  // Up to `limit` outbox messages with seq > `after_seq`, oldest first.
  virtual absl::StatusOr<std::vector<OutboxRow>> OutboxNext(int64_t after_seq, int64_t limit) = 0;
  // Deletes outbox messages (acknowledged upstream); unknown seqs are ignored.
  virtual absl::Status OutboxDelete(std::span<const int64_t> seqs) = 0;
  virtual absl::StatusOr<OutboxSize> GetOutboxSize() = 0;
  // Device twins as JSON documents (the twin module's format), by device.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> LoadTwins() = 0;
  virtual absl::Status SaveTwins(std::span<const std::pair<std::string, std::string>> twins) = 0;
  // The analytics' state of every key, saved at a stop in place of everything saved before
  // (none: cleared, once a start has taken it up), and read at the next start, a key at a time
  // to `fn` (in little memory, however many), by device and sensor. Write saves
  // snapshots of some keys' state in between (ResultBatch::analytics_state), and deletes that of
  // keys forgotten (ResultBatch::forgotten). The keys come from `next_chunk`, a chunk a call,
  // until it returns none; all in one transaction.
  virtual absl::Status SaveAnalyticsState(
      absl::FunctionRef<std::vector<SavedKeyState>()> next_chunk) = 0;
  virtual absl::Status ForEachAnalyticsState(absl::FunctionRef<void(const SavedKeyState&)> fn) = 0;
  // The device registry. Provision adds or replaces a device (keeping its high_seq when the key
  // is the same); SetRevoked is NotFound for an unknown device.
  virtual absl::Status ProvisionDevice(const RegisteredDevice& device) = 0;
  virtual absl::Status SetRevoked(const std::string& device_id, bool revoked) = 0;
  virtual absl::StatusOr<std::vector<RegisteredDevice>> RegisteredDevices() = 0;
  virtual absl::Status SaveHighSeqs(std::span<const std::pair<std::string, uint64_t>> seqs) = 0;
  // Keeps a session, and of the device's sessions only the two newest.
  virtual absl::Status SaveSession(const StoredSession& session) = 0;
  virtual absl::StatusOr<std::vector<StoredSession>> Sessions() = 0;
  // One summary per (device, sensor) key, ordered by device then sensor. Scans the readings.
  virtual absl::StatusOr<std::vector<KeySummary>> Keys() = 0;
  // A read transaction: the reads between BeginRead and EndRead all see the store as it was at
  // BeginRead, whatever is committed meanwhile.
  virtual absl::Status BeginRead() = 0;
  virtual absl::Status EndRead() = 0;
  // Makes what runs on this store in another thread stop soon, with an error (for a stop).
  virtual void Interrupt() = 0;
  virtual absl::StatusOr<int64_t> CountReadings() = 0;
  virtual absl::StatusOr<int64_t> CountInsights() = 0;
  virtual absl::StatusOr<int> SchemaVersion() = 0;
};

}  // namespace edgeway::store
