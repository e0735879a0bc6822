#include <sqlite3.h>

#include <algorithm>
#include <functional>
#include <tuple>

#include "edgeway/core/strings.h"
#include "edgeway/store/store.h"
#include "nlohmann/json.hpp"

namespace edgeway::store {
namespace {

// A prepared statement, finalised on destruction.
class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    std::swap(stmt_, other.stmt_);
    return *this;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }

  void BindText(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void BindOptionalText(int i, const std::string& s) {
    if (s.empty()) {
      sqlite3_bind_null(stmt_, i);
    } else {
      BindText(i, s);
    }
  }
  std::string ColumnText(int i) const {
    const unsigned char* t = sqlite3_column_text(stmt_, i);
    return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
  }
  std::string ColumnBlob(int i) const {
    const void* b = sqlite3_column_blob(stmt_, i);  // null when empty
    return b == nullptr ? std::string()
                        : std::string(static_cast<const char*>(b),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// The columns of a reading, in the order ReadingRow takes them.
constexpr const char* kReadingColumns =
    "device, sensor, ts_ns, value, unit, location, tags, flags, received_ns";

Reading ReadingRow(const Statement& stmt) {
  sqlite3_stmt* s = stmt.get();
  Reading r;
  r.device_id = stmt.ColumnText(0);
  r.sensor = stmt.ColumnText(1);
  r.ts_ns = sqlite3_column_int64(s, 2);
  r.value = sqlite3_column_double(s, 3);
  r.unit = stmt.ColumnText(4);
  r.location = stmt.ColumnText(5);
  std::string tags = stmt.ColumnText(6);
  if (!tags.empty()) {
    nlohmann::json j = nlohmann::json::parse(tags, nullptr, false);
    if (j.is_object()) {
      for (auto& [k, v] : j.items()) {
        if (v.is_string()) r.tags.emplace_back(k, v.get<std::string>());
      }
    }
  }
  r.flags = static_cast<uint32_t>(sqlite3_column_int64(s, 7));
  r.received_ns = sqlite3_column_int64(s, 8);
  return r;
}

WindowResult WindowResultRow(const Statement& stmt) {
  sqlite3_stmt* s = stmt.get();
  WindowResult w;
  w.window = stmt.ColumnText(0);
  w.device_id = stmt.ColumnText(1);
  w.sensor = stmt.ColumnText(2);
  w.start_ns = sqlite3_column_int64(s, 3);
  w.end_ns = sqlite3_column_int64(s, 4);
  w.count = static_cast<uint64_t>(sqlite3_column_int64(s, 5));
  w.mean = sqlite3_column_double(s, 6);
  w.min = sqlite3_column_double(s, 7);
  w.max = sqlite3_column_double(s, 8);
  w.stddev = sqlite3_column_double(s, 9);
  nlohmann::json p = nlohmann::json::parse(stmt.ColumnText(10), nullptr, false);
  if (p.is_array()) {
    for (const auto& pair : p) {
      if (pair.is_array() && pair.size() == 2 && pair[0].is_number() && pair[1].is_number()) {
        w.percentiles.emplace_back(pair[0].get<double>(), pair[1].get<double>());
      }
    }
  }
  w.revision = static_cast<uint32_t>(sqlite3_column_int64(s, 11));
  return w;
}

// Puts rows read key by key (each key's newest first when `latest`, else its oldest first) in the
// order every query answers, oldest first by `earlier`, and keeps the first `limit` of them, or
// with `latest` the last. `several_keys`: there are several keys' rows to merge.
template <typename Row, typename Earlier>
void KeepInOrder(std::vector<Row>& rows, bool several_keys, bool latest, int64_t limit,
                 Earlier earlier) {
  if (latest) std::reverse(rows.begin(), rows.end());
  if (several_keys) std::stable_sort(rows.begin(), rows.end(), earlier);
  const auto keep = static_cast<size_t>(std::max<int64_t>(limit, 0));
  if (rows.size() <= keep) return;
  if (latest) {
    rows.erase(rows.begin(), rows.end() - static_cast<std::ptrdiff_t>(keep));
  } else {
    rows.resize(keep);
  }
}

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, const StoreOptions& options)
      : db_(db), path_(options.path), options_(options) {}
  ~SqliteStore() override {
    insert_reading_ = Statement();
    insert_insight_ = Statement();
    replace_window_ = Statement();
    delete_swallowed_ = Statement();
    insert_late_ = Statement();
    insert_outbox_ = Statement();
    sqlite3_close_v2(db_);
  }

  absl::Status Init(bool read_only, bool synchronous_full);
  absl::StatusOr<WriteStats> Write(const ResultBatch& batch) override;
  absl::StatusOr<Expired> DeleteOlderThan(int64_t cutoff_ns, int64_t max_rows) override;
  absl::StatusOr<std::vector<Reading>> Readings(const ReadingQuery& query) override;
  absl::StatusOr<std::vector<Insight>> Insights(const InsightQuery& query) override;
  absl::Status ForEachRecentReading(FromFn from,
                                    absl::FunctionRef<void(const Reading&)> fn) override;
  absl::StatusOr<std::vector<WindowResult>> WindowResults(const WindowQuery& query) override;
  absl::StatusOr<std::vector<LateReading>> LateReadings(const WindowQuery& query) override;
  absl::StatusOr<std::vector<OutboxRow>> OutboxNext(int64_t after_seq, int64_t limit) override;
  absl::Status OutboxDelete(std::span<const int64_t> seqs) override;
  absl::StatusOr<OutboxSize> GetOutboxSize() override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> LoadTwins() override;
  absl::Status SaveTwins(std::span<const std::pair<std::string, std::string>> twins) override;
  absl::Status SaveAnalyticsState(
      absl::FunctionRef<std::vector<SavedKeyState>()> next_chunk) override;
  absl::Status ForEachAnalyticsState(absl::FunctionRef<void(const SavedKeyState&)> fn) override;
  absl::Status ProvisionDevice(const RegisteredDevice& device) override;
  absl::Status SetRevoked(const std::string& device_id, bool revoked) override;
  absl::StatusOr<std::vector<RegisteredDevice>> RegisteredDevices() override;
  absl::Status SaveHighSeqs(std::span<const std::pair<std::string, uint64_t>> seqs) override;
  absl::Status SaveSession(const StoredSession& session) override;
  absl::StatusOr<std::vector<StoredSession>> Sessions() override;
  absl::StatusOr<std::vector<KeySummary>> Keys() override;
  // A deferred transaction takes its snapshot at its first read.
  absl::Status BeginRead() override { return Exec("BEGIN; SELECT count(*) FROM meta;"); }
  absl::Status EndRead() override { return Exec("COMMIT;"); }
  void Interrupt() override { sqlite3_interrupt(db_); }
  absl::StatusOr<int64_t> CountReadings() override { return Count("readings"); }
  absl::StatusOr<int64_t> CountInsights() override { return Count("insights"); }
  absl::StatusOr<int> SchemaVersion() override;

 private:
  absl::Status Error(std::string_view what) const {
    return absl::UnavailableError(StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_)));
  }
  absl::Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string message = StrCat(path_, ": ", err != nullptr ? err : "error", " in: ", sql);
      sqlite3_free(err);
      return absl::UnavailableError(message);
    }
    return absl::OkStatus();
  }
  // Runs `body` in one write transaction: committed when it returns OK, rolled back otherwise.
  absl::Status InTransaction(const std::function<absl::Status()>& body) {
    if (absl::Status s = Exec("BEGIN IMMEDIATE;"); !s.ok()) return s;
    absl::Status s = body();
    if (s.ok()) s = Exec("COMMIT;");
    if (!s.ok()) (void)Exec("ROLLBACK;");
    return s;
  }
  absl::StatusOr<Statement> Prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return Error(StrCat("preparing ", sql));
    }
    return Statement(stmt);
  }
  absl::StatusOr<int64_t> Count(const char* table);
  // The distinct values of `column` in `table` among the rows where `where` holds (with
  // `params` as ?1, ?2...), in order. `where` fixes the columns before `column` in an index.
  absl::StatusOr<std::vector<std::string>> Distinct(const char* table, const char* column,
                                                    const char* where,
                                                    std::initializer_list<std::string> params);
  // Each key's state in place of what was saved for it before (the others stay).
  absl::Status ReplaceAnalyticsState(std::span<const SavedKeyState> keys);

  sqlite3* db_;
  std::string path_;
  Statement insert_reading_;
  Statement insert_insight_;
  Statement replace_window_;
  Statement delete_swallowed_;
  Statement insert_late_;
  Statement insert_outbox_;
  StoreOptions options_;

  // Write's and SaveSession's statements, inside their transaction.
  absl::Status WriteRows(const ResultBatch& batch, WriteStats* stats);
  absl::Status SaveSessionRows(const StoredSession& session);
  // Inserts the batch's outbox messages within the limit; part of Write's transaction.
  absl::Status EnqueueOutbox(const std::vector<OutboxMessage>& messages, WriteStats* stats);
};

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readings(
  device TEXT NOT NULL, sensor TEXT NOT NULL, ts_ns INTEGER NOT NULL, value REAL NOT NULL,
  unit TEXT, location TEXT, tags TEXT, flags INTEGER NOT NULL DEFAULT 0, received_ns INTEGER,
  PRIMARY KEY (device, sensor, ts_ns)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_ts ON readings(ts_ns);
CREATE TABLE IF NOT EXISTS insights(
  id INTEGER PRIMARY KEY, device TEXT NOT NULL, sensor TEXT NOT NULL, ts_ns INTEGER NOT NULL,
  kind TEXT NOT NULL, summary TEXT NOT NULL, actions TEXT, confidence REAL, value REAL,
  expected REAL, score REAL);
CREATE INDEX IF NOT EXISTS insights_ts ON insights(ts_ns);
INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
)sql";

// Version 1 to 2: event-time window results and their side output.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE IF NOT EXISTS window_results(
  window TEXT NOT NULL, device TEXT NOT NULL, sensor TEXT NOT NULL, start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL, count INTEGER NOT NULL, mean REAL, min REAL, max REAL, stddev REAL,
  percentiles TEXT, revision INTEGER NOT NULL,
  PRIMARY KEY (window, device, sensor, start_ns)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS window_results_end ON window_results(end_ns);
CREATE INDEX IF NOT EXISTS window_results_start ON window_results(start_ns);
CREATE TABLE IF NOT EXISTS late_readings(
  id INTEGER PRIMARY KEY, window TEXT NOT NULL, device TEXT NOT NULL, sensor TEXT NOT NULL,
  ts_ns INTEGER NOT NULL, value REAL NOT NULL, watermark_ns INTEGER, received_ns INTEGER);
CREATE INDEX IF NOT EXISTS late_readings_ts ON late_readings(ts_ns);
INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '2');
PRAGMA user_version = 2;
)sql";

// Version 2 to 3: the upstream outbox.
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE IF NOT EXISTS outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, topic TEXT NOT NULL,
  payload BLOB NOT NULL, created_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_size(
  id INTEGER PRIMARY KEY CHECK (id = 0), messages INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO outbox_size VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS outbox_added AFTER INSERT ON outbox BEGIN
  UPDATE outbox_size SET messages = messages + 1, bytes = bytes + length(NEW.payload) WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS outbox_removed AFTER DELETE ON outbox BEGIN
  UPDATE outbox_size SET messages = messages - 1, bytes = bytes - length(OLD.payload) WHERE id = 0;
END;
INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '3');
PRAGMA user_version = 3;
)sql";

// Version 3 to 4: device twins.
constexpr const char* kSchemaV4 = R"sql(
CREATE TABLE IF NOT EXISTS twins(
  device TEXT PRIMARY KEY, doc TEXT NOT NULL, updated_ns INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '4');
PRAGMA user_version = 4;
)sql";

// Version 4 to 5: the device registry.
constexpr const char* kSchemaV5 = R"sql(
CREATE TABLE IF NOT EXISTS registry(
  device TEXT PRIMARY KEY, key_type TEXT NOT NULL, public_key TEXT NOT NULL, topics TEXT,
  revoked INTEGER NOT NULL DEFAULT 0, created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,
  high_seq INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '5');
PRAGMA user_version = 5;
)sql";

// Version 5 to 6: message sessions.
constexpr const char* kSchemaV6 = R"sql(
CREATE TABLE IF NOT EXISTS sessions(
  device TEXT NOT NULL, session_id BLOB NOT NULL, key BLOB NOT NULL, nonce_prefix BLOB NOT NULL,
  created_ns INTEGER NOT NULL, PRIMARY KEY (device, session_id)) WITHOUT ROWID;
INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '6');
PRAGMA user_version = 6;
)sql";

// Version 6 to 7: the analytics' state of every key, saved at a stop and by snapshots, for the
// next start.
constexpr const char* kSchemaV7 = R"sql(
CREATE TABLE IF NOT EXISTS analytics_state(
  device TEXT NOT NULL, sensor TEXT NOT NULL, state BLOB NOT NULL,
  PRIMARY KEY (device, sensor)) WITHOUT ROWID;
INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '7');
PRAGMA user_version = 7;
)sql";

// Version 7 to 8: a device's insights without a scan of everyone's (the dashboard asks for them
// whenever a device is chosen).
constexpr const char* kSchemaV8 = R"sql(
CREATE INDEX IF NOT EXISTS insights_device ON insights(device, ts_ns);
INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '8');
PRAGMA user_version = 8;
)sql";

absl::Status SqliteStore::Init(bool read_only, bool synchronous_full) {
  sqlite3_busy_timeout(db_, 5000);
  auto version = SchemaVersion();
  if (!version.ok()) {
    return absl::FailedPreconditionError(
        StrCat(path_, ": not an SQLite database or unreadable: ", version.status().message()));
  }
  if (*version > kSchemaVersion) {
    return absl::FailedPreconditionError(StrCat(path_, ": schema version ", *version,
                                                " is newer than this edgeway's (", kSchemaVersion,
                                                "): upgrade edgeway"));
  }
  if (read_only) {
    if (*version == 0)
      return absl::FailedPreconditionError(StrCat(path_, ": not an edgeway store"));
    return absl::OkStatus();
  }
  if (absl::Status s = Exec("PRAGMA journal_mode = WAL;"); !s.ok()) return s;
  if (absl::Status s =
          Exec(synchronous_full ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;");
      !s.ok()) {
    return s;
  }
  if (*version < kSchemaVersion) {
    absl::Status upgraded = InTransaction([&] {
      for (const char* step : {*version < 1 ? kSchemaV1 : "", *version < 2 ? kSchemaV2 : "",
                               *version < 3 ? kSchemaV3 : "", *version < 4 ? kSchemaV4 : "",
                               *version < 5 ? kSchemaV5 : "", *version < 6 ? kSchemaV6 : "",
                               *version < 7 ? kSchemaV7 : "", kSchemaV8}) {
        if (absl::Status s = Exec(step); !s.ok()) return s;
      }
      return absl::OkStatus();
    });
    if (!upgraded.ok()) return upgraded;
  }
  auto ins = Prepare(
      "INSERT OR IGNORE INTO readings(device, sensor, ts_ns, value, unit, location, tags, flags, "
      "received_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!ins.ok()) return ins.status();
  insert_reading_ = std::move(*ins);
  auto ins2 = Prepare(
      "INSERT INTO insights(device, sensor, ts_ns, kind, summary, actions, confidence, value, "
      "expected, score) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!ins2.ok()) return ins2.status();
  insert_insight_ = std::move(*ins2);
  auto win = Prepare(
      "INSERT OR REPLACE INTO window_results(window, device, sensor, start_ns, end_ns, count, "
      "mean, min, max, stddev, percentiles, revision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
      "?9, ?10, ?11, ?12)");
  if (!win.ok()) return win.status();
  replace_window_ = std::move(*win);
  auto swallowed = Prepare(
      "DELETE FROM window_results WHERE window = ?1 AND device = ?2 AND sensor = ?3 AND "
      "start_ns > ?4 AND end_ns <= ?5");
  if (!swallowed.ok()) return swallowed.status();
  delete_swallowed_ = std::move(*swallowed);
  auto late = Prepare(
      "INSERT INTO late_readings(window, device, sensor, ts_ns, value, watermark_ns, received_ns) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!late.ok()) return late.status();
  insert_late_ = std::move(*late);
  auto outbox =
      Prepare("INSERT INTO outbox(device, topic, payload, created_ns) VALUES (?1, ?2, ?3, ?4)");
  if (!outbox.ok()) return outbox.status();
  insert_outbox_ = std::move(*outbox);
  return absl::OkStatus();
}

absl::StatusOr<int> SqliteStore::SchemaVersion() {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &stmt, nullptr) != SQLITE_OK) {
    return Error("reading user_version");
  }
  Statement s(stmt);
  if (sqlite3_step(stmt) != SQLITE_ROW) return Error("reading user_version");
  return sqlite3_column_int(stmt, 0);
}

absl::StatusOr<WriteStats> SqliteStore::Write(const ResultBatch& batch) {
  WriteStats stats;
  absl::Status s = InTransaction([&] { return WriteRows(batch, &stats); });
  if (!s.ok()) return s;
  return stats;
}

absl::Status SqliteStore::WriteRows(const ResultBatch& batch, WriteStats* out) {
  WriteStats& stats = *out;
  sqlite3_stmt* ins = insert_reading_.get();
  std::string tags;
  for (const Reading& r : batch.readings) {
    sqlite3_reset(ins);
    insert_reading_.BindText(1, r.device_id);
    insert_reading_.BindText(2, r.sensor);
    sqlite3_bind_int64(ins, 3, r.ts_ns);
    sqlite3_bind_double(ins, 4, r.value);
    insert_reading_.BindOptionalText(5, r.unit);
    insert_reading_.BindOptionalText(6, r.location);
    tags.clear();
    if (!r.tags.empty()) {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& [k, v] : r.tags) j[k] = v;
      tags = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    insert_reading_.BindOptionalText(7, tags);
    sqlite3_bind_int64(ins, 8, r.flags);
    sqlite3_bind_int64(ins, 9, r.received_ns);
    if (sqlite3_step(ins) != SQLITE_DONE) return Error("inserting a reading");
    if (sqlite3_changes(db_) == 1) {
      ++stats.readings_inserted;
    } else {
      ++stats.readings_duplicate;
    }
  }
  sqlite3_stmt* ii = insert_insight_.get();
  std::string actions;
  std::string kind;
  for (const Insight& in : batch.insights) {
    sqlite3_reset(ii);
    insert_insight_.BindText(1, in.device_id);
    insert_insight_.BindText(2, in.sensor);
    sqlite3_bind_int64(ii, 3, in.ts_ns);
    kind = InsightKindName(in.kind);
    insert_insight_.BindText(4, kind);
    insert_insight_.BindText(5, in.summary);
    actions =
        nlohmann::json(in.actions).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    insert_insight_.BindText(6, actions);
    sqlite3_bind_double(ii, 7, in.confidence);
    sqlite3_bind_double(ii, 8, in.value);
    sqlite3_bind_double(ii, 9, in.expected);
    sqlite3_bind_double(ii, 10, in.score);
    if (sqlite3_step(ii) != SQLITE_DONE) return Error("inserting an insight");
    ++stats.insights_inserted;
  }
  std::string percentiles;
  for (const WindowResult& w : batch.windows) {
    // A session that grew to swallow later sessions replaces their results (the one with the
    // same start is replaced by the INSERT OR REPLACE below).
    sqlite3_stmt* del = delete_swallowed_.get();
    sqlite3_reset(del);
    delete_swallowed_.BindText(1, w.window);
    delete_swallowed_.BindText(2, w.device_id);
    delete_swallowed_.BindText(3, w.sensor);
    sqlite3_bind_int64(del, 4, w.start_ns);
    sqlite3_bind_int64(del, 5, w.end_ns);
    if (sqlite3_step(del) != SQLITE_DONE) return Error("replacing window results");
    sqlite3_stmt* ws = replace_window_.get();
    sqlite3_reset(ws);
    replace_window_.BindText(1, w.window);
    replace_window_.BindText(2, w.device_id);
    replace_window_.BindText(3, w.sensor);
    sqlite3_bind_int64(ws, 4, w.start_ns);
    sqlite3_bind_int64(ws, 5, w.end_ns);
    sqlite3_bind_int64(ws, 6, static_cast<int64_t>(w.count));
    sqlite3_bind_double(ws, 7, w.mean);
    sqlite3_bind_double(ws, 8, w.min);
    sqlite3_bind_double(ws, 9, w.max);
    sqlite3_bind_double(ws, 10, w.stddev);
    percentiles = nlohmann::json(w.percentiles).dump();
    replace_window_.BindText(11, percentiles);
    sqlite3_bind_int64(ws, 12, w.revision);
    if (sqlite3_step(ws) != SQLITE_DONE) return Error("inserting a window result");
    ++stats.window_results_written;
  }
  for (const LateReading& l : batch.late) {
    sqlite3_stmt* ls = insert_late_.get();
    sqlite3_reset(ls);
    insert_late_.BindText(1, l.window);
    insert_late_.BindText(2, l.reading.device_id);
    insert_late_.BindText(3, l.reading.sensor);
    sqlite3_bind_int64(ls, 4, l.reading.ts_ns);
    sqlite3_bind_double(ls, 5, l.reading.value);
    sqlite3_bind_int64(ls, 6, l.watermark_ns);
    sqlite3_bind_int64(ls, 7, l.reading.received_ns);
    if (sqlite3_step(ls) != SQLITE_DONE) return Error("inserting a late reading");
    ++stats.late_readings_inserted;
  }
  // Forgotten first: a batch merged from several may hold a key forgotten and then, back after a
  // week of silence, saved again.
  if (!batch.forgotten.empty()) {
    auto del = Prepare("DELETE FROM analytics_state WHERE device = ?1 AND sensor = ?2");
    if (!del.ok()) return del.status();
    for (const auto& [device, sensor] : batch.forgotten) {
      sqlite3_reset(del->get());
      del->BindText(1, device);
      del->BindText(2, sensor);
      if (sqlite3_step(del->get()) != SQLITE_DONE) return Error("deleting analytics state");
    }
  }
  if (absl::Status s = ReplaceAnalyticsState(batch.analytics_state); !s.ok()) return s;
  stats.analytics_states_saved += static_cast<int64_t>(batch.analytics_state.size());
  if (!batch.outbox.empty()) return EnqueueOutbox(batch.outbox, &stats);
  return absl::OkStatus();
}

absl::Status SqliteStore::EnqueueOutbox(const std::vector<OutboxMessage>& messages,
                                        WriteStats* stats) {
  size_t accepted = messages.size();
  if (options_.outbox_max_bytes > 0) {
    auto size = GetOutboxSize();
    if (!size.ok()) return size.status();
    int64_t incoming = 0;
    for (const OutboxMessage& m : messages) incoming += static_cast<int64_t>(m.payload.size());
    int64_t excess = size->bytes + incoming - options_.outbox_max_bytes;
    if (excess > 0 && options_.outbox_drop_oldest) {
      // Delete the oldest messages until the new ones fit (all of them, if need be).
      auto oldest = Prepare("SELECT seq, length(payload) FROM outbox ORDER BY seq");
      if (!oldest.ok()) return oldest.status();
      int64_t last = -1;
      int rc;
      while (excess > 0 && (rc = sqlite3_step(oldest->get())) == SQLITE_ROW) {
        last = sqlite3_column_int64(oldest->get(), 0);
        excess -= sqlite3_column_int64(oldest->get(), 1);
        ++stats->outbox_dropped;
      }
      *oldest = Statement();
      if (last >= 0) {
        auto del = Prepare("DELETE FROM outbox WHERE seq <= ?1");
        if (!del.ok()) return del.status();
        sqlite3_bind_int64(del->get(), 1, last);
        if (sqlite3_step(del->get()) != SQLITE_DONE) return Error("dropping old outbox messages");
      }
    }
    if (excess > 0) {
      // refuse_new, or new messages larger than the whole limit: keep the oldest that fit.
      int64_t room = options_.outbox_max_bytes - (options_.outbox_drop_oldest ? 0 : size->bytes);
      accepted = 0;
      while (accepted < messages.size() &&
             static_cast<int64_t>(messages[accepted].payload.size()) <= room) {
        room -= static_cast<int64_t>(messages[accepted].payload.size());
        ++accepted;
      }
      stats->outbox_dropped += static_cast<int64_t>(messages.size() - accepted);
    }
  }
  sqlite3_stmt* ins = insert_outbox_.get();
  for (size_t i = 0; i < accepted; ++i) {
    const OutboxMessage& m = messages[i];
    sqlite3_reset(ins);
    insert_outbox_.BindText(1, m.device_id);
    insert_outbox_.BindText(2, m.topic);
    sqlite3_bind_blob(ins, 3, m.payload.data(), static_cast<int>(m.payload.size()), SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, m.created_ns);
    if (sqlite3_step(ins) != SQLITE_DONE) return Error("queueing for upstream");
    ++stats->outbox_enqueued;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutboxRow>> SqliteStore::OutboxNext(int64_t after_seq, int64_t limit) {
  auto stmt = Prepare(
      "SELECT seq, device, topic, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  sqlite3_bind_int64(s, 1, after_seq);
  sqlite3_bind_int64(s, 2, limit);
  std::vector<OutboxRow> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    OutboxRow& row = out.emplace_back();
    row.seq = sqlite3_column_int64(s, 0);
    row.device_id = stmt->ColumnText(1);
    row.topic = stmt->ColumnText(2);
    row.payload = stmt->ColumnBlob(3);
  }
  if (rc != SQLITE_DONE) return Error("reading the outbox");
  return out;
}

absl::Status SqliteStore::OutboxDelete(std::span<const int64_t> seqs) {
  if (seqs.empty()) return absl::OkStatus();
  return InTransaction([&] {
    auto stmt = Prepare("DELETE FROM outbox WHERE seq = ?1");
    if (!stmt.ok()) return stmt.status();
    for (int64_t seq : seqs) {
      sqlite3_reset(stmt->get());
      sqlite3_bind_int64(stmt->get(), 1, seq);
      if (sqlite3_step(stmt->get()) != SQLITE_DONE) {
        return Error("deleting forwarded outbox messages");
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<OutboxSize> SqliteStore::GetOutboxSize() {
  auto stmt = Prepare("SELECT messages, bytes FROM outbox_size WHERE id = 0");
  if (!stmt.ok()) return stmt.status();
  if (sqlite3_step(stmt->get()) != SQLITE_ROW) return Error("reading the outbox size");
  return OutboxSize{sqlite3_column_int64(stmt->get(), 0), sqlite3_column_int64(stmt->get(), 1)};
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SqliteStore::LoadTwins() {
  auto stmt = Prepare("SELECT device, doc FROM twins ORDER BY device");
  if (!stmt.ok()) return stmt.status();
  std::vector<std::pair<std::string, std::string>> out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    out.emplace_back(stmt->ColumnText(0), stmt->ColumnText(1));
  }
  if (rc != SQLITE_DONE) return Error("reading twins");
  return out;
}

absl::Status SqliteStore::SaveTwins(std::span<const std::pair<std::string, std::string>> twins) {
  if (twins.empty()) return absl::OkStatus();
  return InTransaction([&] {
    auto stmt = Prepare(
        "INSERT OR REPLACE INTO twins(device, doc, updated_ns) VALUES (?1, ?2, "
        "CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER))");
    if (!stmt.ok()) return stmt.status();
    for (const auto& [device, doc] : twins) {
      sqlite3_reset(stmt->get());
      stmt->BindText(1, device);
      stmt->BindText(2, doc);
      if (sqlite3_step(stmt->get()) != SQLITE_DONE) return Error("saving a twin");
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::SaveAnalyticsState(
    absl::FunctionRef<std::vector<SavedKeyState>()> next_chunk) {
  return InTransaction([&] {
    if (absl::Status s = Exec("DELETE FROM analytics_state;"); !s.ok()) return s;
    for (std::vector<SavedKeyState> chunk = next_chunk(); !chunk.empty(); chunk = next_chunk()) {
      if (absl::Status s = ReplaceAnalyticsState(chunk); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::ReplaceAnalyticsState(std::span<const SavedKeyState> keys) {
  if (keys.empty()) return absl::OkStatus();
  auto stmt =
      Prepare("INSERT OR REPLACE INTO analytics_state(device, sensor, state) VALUES (?1, ?2, ?3)");
  if (!stmt.ok()) return stmt.status();
  for (const SavedKeyState& k : keys) {
    sqlite3_reset(stmt->get());
    stmt->BindText(1, k.device_id);
    stmt->BindText(2, k.sensor);
    sqlite3_bind_blob(stmt->get(), 3, k.bytes.data(), static_cast<int>(k.bytes.size()),
                      SQLITE_STATIC);
    if (sqlite3_step(stmt->get()) != SQLITE_DONE) return Error("saving analytics state");
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::ForEachAnalyticsState(absl::FunctionRef<void(const SavedKeyState&)> fn) {
  auto stmt = Prepare("SELECT device, sensor, state FROM analytics_state ORDER BY device, sensor");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  SavedKeyState key;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    key.device_id = stmt->ColumnText(0);
    key.sensor = stmt->ColumnText(1);
    key.bytes = stmt->ColumnBlob(2);
    fn(key);
  }
  if (rc != SQLITE_DONE) return Error("reading analytics state");
  return absl::OkStatus();
}

absl::Status SqliteStore::ProvisionDevice(const RegisteredDevice& d) {
  // A new key starts a new sequence; the same key keeps its high-water mark.
  auto stmt = Prepare(
      "INSERT INTO registry(device, key_type, public_key, topics, revoked, created_ns, "
      "updated_ns, high_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 0) ON CONFLICT(device) DO "
      "UPDATE SET high_seq = CASE WHEN public_key = excluded.public_key THEN high_seq ELSE 0 END, "
      "key_type = excluded.key_type, public_key = excluded.public_key, topics = excluded.topics, "
      "revoked = excluded.revoked, updated_ns = excluded.updated_ns");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  stmt->BindText(1, d.device_id);
  stmt->BindText(2, d.key_type);
  stmt->BindText(3, d.public_key);
  std::string topics = nlohmann::json(d.topics).dump();
  stmt->BindText(4, topics);
  sqlite3_bind_int(s, 5, d.revoked ? 1 : 0);
  sqlite3_bind_int64(s, 6, d.created_ns);
  if (sqlite3_step(s) != SQLITE_DONE) return Error("provisioning a device");
  return absl::OkStatus();
}

absl::Status SqliteStore::SetRevoked(const std::string& device_id, bool revoked) {
  auto stmt = Prepare("UPDATE registry SET revoked = ?2 WHERE device = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, device_id);
  sqlite3_bind_int(stmt->get(), 2, revoked ? 1 : 0);
  if (sqlite3_step(stmt->get()) != SQLITE_DONE) return Error("revoking a device");
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(StrCat(path_, ": no device '", device_id, "' in the registry"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RegisteredDevice>> SqliteStore::RegisteredDevices() {
  auto stmt = Prepare(
      "SELECT device, key_type, public_key, topics, revoked, created_ns, updated_ns, high_seq "
      "FROM registry ORDER BY device");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  std::vector<RegisteredDevice> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    RegisteredDevice& d = out.emplace_back();
    d.device_id = stmt->ColumnText(0);
    d.key_type = stmt->ColumnText(1);
    d.public_key = stmt->ColumnText(2);
    nlohmann::json topics = nlohmann::json::parse(stmt->ColumnText(3), nullptr, false);
    if (topics.is_array()) {
      for (const auto& t : topics) {
        if (t.is_string()) d.topics.push_back(t.get<std::string>());
      }
    }
    d.revoked = sqlite3_column_int(s, 4) != 0;
    d.created_ns = sqlite3_column_int64(s, 5);
    d.updated_ns = sqlite3_column_int64(s, 6);
    d.high_seq = static_cast<uint64_t>(sqlite3_column_int64(s, 7));
  }
  if (rc != SQLITE_DONE) return Error("reading the registry");
  return out;
}

absl::Status SqliteStore::SaveHighSeqs(std::span<const std::pair<std::string, uint64_t>> seqs) {
  if (seqs.empty()) return absl::OkStatus();
  return InTransaction([&] {
    auto stmt = Prepare("UPDATE registry SET high_seq = max(high_seq, ?2) WHERE device = ?1");
    if (!stmt.ok()) return stmt.status();
    for (const auto& [device, seq] : seqs) {
      sqlite3_reset(stmt->get());
      stmt->BindText(1, device);
      sqlite3_bind_int64(stmt->get(), 2, static_cast<int64_t>(seq));
      if (sqlite3_step(stmt->get()) != SQLITE_DONE) return Error("saving sequence numbers");
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteStore::SaveSession(const StoredSession& session) {
  return InTransaction([&] { return SaveSessionRows(session); });
}

absl::Status SqliteStore::SaveSessionRows(const StoredSession& session) {
  auto ins = Prepare(
      "INSERT OR REPLACE INTO sessions(device, session_id, key, nonce_prefix, created_ns) VALUES "
      "(?1, ?2, ?3, ?4, ?5)");
  if (!ins.ok()) return ins.status();
  sqlite3_stmt* s = ins->get();
  ins->BindText(1, session.device_id);
  sqlite3_bind_blob(s, 2, session.session_id.data(), static_cast<int>(session.session_id.size()),
                    SQLITE_STATIC);
  sqlite3_bind_blob(s, 3, session.key.data(), static_cast<int>(session.key.size()), SQLITE_STATIC);
  sqlite3_bind_blob(s, 4, session.nonce_prefix.data(),
                    static_cast<int>(session.nonce_prefix.size()), SQLITE_STATIC);
  sqlite3_bind_int64(s, 5, session.created_ns);
  if (sqlite3_step(s) != SQLITE_DONE) return Error("saving a session");
  auto trim = Prepare(
      "DELETE FROM sessions WHERE device = ?1 AND session_id NOT IN (SELECT session_id FROM "
      "sessions WHERE device = ?1 ORDER BY created_ns DESC LIMIT 2)");
  if (!trim.ok()) return trim.status();
  trim->BindText(1, session.device_id);
  if (sqlite3_step(trim->get()) != SQLITE_DONE) return Error("trimming sessions");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredSession>> SqliteStore::Sessions() {
  auto stmt = Prepare(
      "SELECT device, session_id, key, nonce_prefix, created_ns FROM sessions ORDER BY device, "
      "created_ns");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  std::vector<StoredSession> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    out.push_back({stmt->ColumnText(0), stmt->ColumnBlob(1), stmt->ColumnBlob(2),
                   stmt->ColumnBlob(3), sqlite3_column_int64(s, 4)});
  }
  if (rc != SQLITE_DONE) return Error("reading sessions");
  return out;
}

absl::StatusOr<Expired> SqliteStore::DeleteOlderThan(int64_t cutoff_ns, int64_t max_rows) {
  // The rows up to the time of the max_rows-th oldest, along each table's time index. A table's
  // rows are kept in key order, so a step touches a page of every key with rows in it: steps of
  // many rows each, for a large fleet. The readings and anomalies return their device, for the
  // counts of those kept per device. One transaction: what it returns is exactly what went.
  Expired expired;
  absl::Status s = InTransaction([&]() -> absl::Status {
    for (auto [table, column, returning] :
         {std::tuple{"readings", "ts_ns", " RETURNING device, 1, 0"},
          {"insights", "ts_ns", " RETURNING device, 0, kind = 'anomaly'"},
          {"window_results", "end_ns", ""},
          {"late_readings", "ts_ns", ""}}) {
      auto stmt =
          Prepare(StrCat("DELETE FROM ", table, " WHERE ", column, " < ?1 AND ", column,
                         " <= coalesce((SELECT ", column, " FROM ", table, " WHERE ", column,
                         " < ?1 ORDER BY ", column, " LIMIT 1 OFFSET ?2), ?1)", returning)
                      .c_str());
      if (!stmt.ok()) return stmt.status();
      sqlite3_stmt* st = stmt->get();
      sqlite3_bind_int64(st, 1, cutoff_ns);
      sqlite3_bind_int64(st, 2, std::max<int64_t>(max_rows, 1) - 1);
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        Expired::Device& d = expired.devices[stmt->ColumnText(0)];
        d.readings += sqlite3_column_int(st, 1);
        d.anomalies += sqlite3_column_int(st, 2);
      }
      if (rc != SQLITE_DONE) return Error("retention delete");
      expired.rows += sqlite3_changes(db_);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return expired;
}

absl::StatusOr<std::vector<Reading>> SqliteStore::Readings(const ReadingQuery& q) {
  // Without a device, the newest (or oldest) rows of the time range come from the ts_ns index.
  // With one, each of its keys is a range of the primary key, read alone: through the ts_ns index
  // a device's rows are one in every few thousand of a large fleet's, and all of them are visited
  // when it has fewer than `limit`.
  std::vector<std::string> sensors = {q.sensor};
  if (!q.device_id.empty() && q.sensor.empty()) {
    auto found = Distinct("readings", "sensor", "device = ?1", {q.device_id});
    if (!found.ok()) return found.status();
    sensors = *std::move(found);
  }
  const char* order = q.latest ? "DESC" : "";
  auto stmt = Prepare(
      q.device_id.empty()
          ? StrCat("SELECT ", kReadingColumns,
                   " FROM readings WHERE (?2 = '' OR sensor = ?2) AND ts_ns >= ?3 AND ts_ns < ?4 "
                   "ORDER BY ts_ns ",
                   order, ", device ", order, ", sensor ", order, " LIMIT ?5")
                .c_str()
          : StrCat("SELECT ", kReadingColumns,
                   " FROM readings WHERE device = ?1 AND sensor = ?2 AND ts_ns >= ?3 AND "
                   "ts_ns < ?4 ORDER BY ts_ns ",
                   order, " LIMIT ?5")
                .c_str());
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  std::vector<Reading> out;
  for (const std::string& sensor : sensors) {
    sqlite3_reset(s);
    stmt->BindText(1, q.device_id);
    stmt->BindText(2, sensor);
    sqlite3_bind_int64(s, 3, q.from_ns);
    sqlite3_bind_int64(s, 4, q.to_ns);
    sqlite3_bind_int64(s, 5, q.limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(ReadingRow(*stmt));
    if (rc != SQLITE_DONE) return Error("reading readings");
  }
  KeepInOrder(out, sensors.size() > 1, q.latest, q.limit, [](const Reading& a, const Reading& b) {
    return std::tie(a.ts_ns, a.device_id, a.sensor) < std::tie(b.ts_ns, b.device_id, b.sensor);
  });
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteStore::Distinct(
    const char* table, const char* column, const char* where,
    std::initializer_list<std::string> params) {
  // A skip along the index from one value to the next: a search per value, however many rows
  // each has.
  auto stmt = Prepare(StrCat("WITH RECURSIVE v(x) AS (SELECT min(", column, ") FROM ", table,
                             " WHERE ", where, " UNION ALL SELECT (SELECT min(", column, ") FROM ",
                             table, " WHERE ", where, " AND ", column,
                             " > v.x) FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS "
                             "NOT NULL")
                          .c_str());
  if (!stmt.ok()) return stmt.status();
  int i = 0;
  for (const std::string& p : params) stmt->BindText(++i, p);
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) out.push_back(stmt->ColumnText(0));
  if (rc != SQLITE_DONE) return Error(StrCat("listing the ", column, "s in ", table));
  return out;
}

absl::StatusOr<std::vector<Insight>> SqliteStore::Insights(const InsightQuery& q) {
  // With a device, along its index (device, ts_ns); without, along ts_ns.
  const char* order = q.latest ? "DESC" : "";
  auto stmt = Prepare(StrCat("SELECT device, sensor, ts_ns, kind, summary, actions, confidence, "
                             "value, expected, score FROM insights WHERE ",
                             q.device_id.empty() ? "?1 = ''" : "device = ?1",
                             " AND (?2 = '' OR kind = ?2) AND ts_ns >= ?3 AND ts_ns < ?4 ORDER BY "
                             "ts_ns ",
                             order, ", id ", order, " LIMIT ?5")
                          .c_str());
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  stmt->BindText(1, q.device_id);
  std::string kind = q.kind ? InsightKindName(*q.kind) : "";
  stmt->BindText(2, kind);
  sqlite3_bind_int64(s, 3, q.from_ns);
  sqlite3_bind_int64(s, 4, q.to_ns);
  sqlite3_bind_int64(s, 5, q.limit);
  std::vector<Insight> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    Insight& in = out.emplace_back();
    in.device_id = stmt->ColumnText(0);
    in.sensor = stmt->ColumnText(1);
    in.ts_ns = sqlite3_column_int64(s, 2);
    in.kind = ParseInsightKind(stmt->ColumnText(3)).value_or(Insight::Kind::kAnomaly);
    in.summary = stmt->ColumnText(4);
    nlohmann::json actions = nlohmann::json::parse(stmt->ColumnText(5), nullptr, false);
    if (actions.is_array()) {
      for (const auto& a : actions) {
        if (a.is_string()) in.actions.push_back(a.get<std::string>());
      }
    }
    in.confidence = sqlite3_column_double(s, 6);
    in.value = sqlite3_column_double(s, 7);
    in.expected = sqlite3_column_double(s, 8);
    in.score = sqlite3_column_double(s, 9);
  }
  if (rc != SQLITE_DONE) return Error("reading insights");
  if (q.latest) std::reverse(out.begin(), out.end());  // oldest first, as every query answers
  return out;
}

absl::Status SqliteStore::ForEachRecentReading(FromFn from,
                                               absl::FunctionRef<void(const Reading&)> fn) {
  // The keys are found by skipping along the primary key, a device and then each of its sensors
  // at a time, and each key's newest reading by one lookup: a start costs a few searches a key,
  // not a scan of every reading kept (a GROUP BY took 0.35 s for 3,000,000 readings of 300 keys,
  // this 0.02 s). Then each key's readings are one range of the primary key, in order: nothing
  // is sorted (in one time order across keys, 6,000,000 readings took a sort of them all).
  auto keys = Prepare(
      "WITH RECURSIVE "
      "devices(device) AS ("
      "  SELECT min(device) FROM readings"
      "  UNION ALL"
      "  SELECT (SELECT min(device) FROM readings WHERE device > d.device) FROM devices d"
      "  WHERE d.device IS NOT NULL), "
      "keys(device, sensor) AS ("
      "  SELECT device, (SELECT min(sensor) FROM readings WHERE device = d.device) FROM devices d"
      "  WHERE d.device IS NOT NULL"
      "  UNION ALL"
      "  SELECT k.device, (SELECT min(sensor) FROM readings WHERE device = k.device AND sensor > "
      "k.sensor) FROM keys k WHERE k.sensor IS NOT NULL) "
      "SELECT device, sensor, (SELECT max(ts_ns) FROM readings WHERE device = k.device AND "
      "sensor = k.sensor) FROM keys k WHERE sensor IS NOT NULL");
  if (!keys.ok()) return keys.status();
  auto rows = Prepare(
      "SELECT ts_ns, value, received_ns FROM readings WHERE device = ?1 AND sensor = ?2 AND "
      "ts_ns >= ?3 ORDER BY ts_ns");
  if (!rows.ok()) return rows.status();
  sqlite3_stmt* k = keys->get();
  sqlite3_stmt* s = rows->get();
  Reading r;
  int rc;
  while ((rc = sqlite3_step(k)) == SQLITE_ROW) {
    r.device_id = keys->ColumnText(0);
    r.sensor = keys->ColumnText(1);
    sqlite3_reset(s);
    rows->BindText(1, r.device_id);
    rows->BindText(2, r.sensor);
    sqlite3_bind_int64(s, 3, from(r.device_id, r.sensor, sqlite3_column_int64(k, 2)));
    int row;
    while ((row = sqlite3_step(s)) == SQLITE_ROW) {
      r.ts_ns = sqlite3_column_int64(s, 0);
      r.value = sqlite3_column_double(s, 1);
      r.received_ns = sqlite3_column_int64(s, 2);
      fn(r);
    }
    if (row != SQLITE_DONE) return Error("reading recent readings");
  }
  if (rc != SQLITE_DONE) return Error("reading recent readings");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WindowResult>> SqliteStore::WindowResults(const WindowQuery& q) {
  // As Readings: a device's results are read a key (window, sensor) at a time along the primary
  // key, the others through the start_ns index.
  std::vector<std::pair<std::string, std::string>> keys = {{q.window, q.sensor}};
  if (!q.device_id.empty()) {
    std::vector<std::string> windows = {q.window};
    if (q.window.empty()) {
      auto found = Distinct("window_results", "window", "1", {});
      if (!found.ok()) return found.status();
      windows = *std::move(found);
    }
    keys.clear();
    for (const std::string& window : windows) {
      std::vector<std::string> sensors = {q.sensor};
      if (q.sensor.empty()) {
        auto found = Distinct("window_results", "sensor", "window = ?1 AND device = ?2",
                              {window, q.device_id});
        if (!found.ok()) return found.status();
        sensors = *std::move(found);
      }
      for (std::string& sensor : sensors) keys.emplace_back(window, std::move(sensor));
    }
  }
  const char* order = q.latest ? "DESC" : "";
  constexpr const char* kColumns =
      "SELECT window, device, sensor, start_ns, end_ns, count, mean, min, max, stddev, "
      "percentiles, revision FROM window_results WHERE ";
  auto stmt = Prepare(
      q.device_id.empty()
          ? StrCat(kColumns,
                   "(?1 = '' OR window = ?1) AND (?3 = '' OR sensor = ?3) AND start_ns >= ?4 AND "
                   "start_ns < ?5 ORDER BY start_ns ",
                   order, ", window ", order, ", device ", order, ", sensor ", order, " LIMIT ?6")
                .c_str()
          : StrCat(kColumns,
                   "window = ?1 AND device = ?2 AND sensor = ?3 AND start_ns >= ?4 AND start_ns < "
                   "?5 ORDER BY start_ns ",
                   order, " LIMIT ?6")
                .c_str());
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  std::vector<WindowResult> out;
  for (const auto& [window, sensor] : keys) {
    sqlite3_reset(s);
    stmt->BindText(1, window);
    stmt->BindText(2, q.device_id);
    stmt->BindText(3, sensor);
    sqlite3_bind_int64(s, 4, q.from_ns);
    sqlite3_bind_int64(s, 5, q.to_ns);
    sqlite3_bind_int64(s, 6, q.limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(WindowResultRow(*stmt));
    if (rc != SQLITE_DONE) return Error("reading window results");
  }
  KeepInOrder(out, keys.size() > 1, q.latest, q.limit,
              [](const WindowResult& a, const WindowResult& b) {
                return std::tie(a.start_ns, a.window, a.device_id, a.sensor) <
                       std::tie(b.start_ns, b.window, b.device_id, b.sensor);
              });
  return out;
}

absl::StatusOr<std::vector<LateReading>> SqliteStore::LateReadings(const WindowQuery& q) {
  auto stmt = Prepare(
      "SELECT * FROM (SELECT window, device, sensor, ts_ns, value, watermark_ns, received_ns, id "
      "FROM late_readings WHERE (?1 = '' OR window = ?1) AND (?2 = '' OR device = ?2) AND "
      "(?3 = '' OR sensor = ?3) AND ts_ns >= ?4 AND ts_ns < ?5 ORDER BY id DESC LIMIT ?6) "
      "ORDER BY id");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  stmt->BindText(1, q.window);
  stmt->BindText(2, q.device_id);
  stmt->BindText(3, q.sensor);
  sqlite3_bind_int64(s, 4, q.from_ns);
  sqlite3_bind_int64(s, 5, q.to_ns);
  sqlite3_bind_int64(s, 6, q.limit);
  std::vector<LateReading> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    LateReading& l = out.emplace_back();
    l.window = stmt->ColumnText(0);
    l.reading.device_id = stmt->ColumnText(1);
    l.reading.sensor = stmt->ColumnText(2);
    l.reading.ts_ns = sqlite3_column_int64(s, 3);
    l.reading.value = sqlite3_column_double(s, 4);
    l.watermark_ns = sqlite3_column_int64(s, 5);
    l.reading.received_ns = sqlite3_column_int64(s, 6);
  }
  if (rc != SQLITE_DONE) return Error("reading late readings");
  return out;
}

absl::StatusOr<std::vector<KeySummary>> SqliteStore::Keys() {
  // One pass over the readings in key order, and one over the insights: each key's anomalies
  // counted by a subquery per key scanned every insight once per key (three minutes for 30,000
  // keys and 65,000 insights). SQLite returns the other columns of the row holding max(ts_ns)
  // (its bare-column rule).
  auto stmt = Prepare(
      "WITH k AS (SELECT device, sensor, count(*) AS n, max(ts_ns) AS ts, received_ns, value, "
      "unit FROM readings GROUP BY device, sensor), "
      "a AS (SELECT device, sensor, count(*) AS n FROM insights WHERE kind = 'anomaly' "
      "GROUP BY device, sensor) "
      "SELECT k.device, k.sensor, k.n, k.ts, k.received_ns, k.value, k.unit, coalesce(a.n, 0) "
      "FROM k LEFT JOIN a ON a.device = k.device AND a.sensor = k.sensor "
      "ORDER BY k.device, k.sensor");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* s = stmt->get();
  std::vector<KeySummary> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    KeySummary& k = out.emplace_back();
    k.device_id = stmt->ColumnText(0);
    k.sensor = stmt->ColumnText(1);
    k.readings = sqlite3_column_int64(s, 2);
    k.last_ts_ns = sqlite3_column_int64(s, 3);
    k.last_received_ns = sqlite3_column_int64(s, 4);
    k.last_value = sqlite3_column_double(s, 5);
    k.unit = stmt->ColumnText(6);
    k.anomalies = sqlite3_column_int64(s, 7);
  }
  if (rc != SQLITE_DONE) return Error("summarising keys");
  return out;
}

absl::StatusOr<int64_t> SqliteStore::Count(const char* table) {
  auto stmt = Prepare(StrCat("SELECT count(*) FROM ", table).c_str());
  if (!stmt.ok()) return stmt.status();
  if (sqlite3_step(stmt->get()) != SQLITE_ROW) return Error("counting");
  return sqlite3_column_int64(stmt->get(), 0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  sqlite3* db = nullptr;
  int flags =
      options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message =
        StrCat(options.path,
               ": cannot open store: ", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return absl::UnavailableError(message);
  }
  auto store = std::make_unique<SqliteStore>(db, options);
  if (absl::Status s = store->Init(options.read_only, options.synchronous_full); !s.ok()) return s;
  return store;
}

}  // namespace edgeway::store
