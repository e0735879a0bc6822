#include "edgeway/api/server.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "api/internal/assets.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/strings.h"
#include "edgeway/store/store.h"
#include "edgeway/telemetry/decoder.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace edgeway::api {
namespace {

using nlohmann::json;

constexpr int64_t kMaxLimit = 10000;
constexpr int64_t kDefaultLimit = store::ReadingQuery{}.limit;  // every list's, devices' too
// Live streams each hold a server thread while open; a dashboard tab uses one.
constexpr size_t kMaxStreams = 8;
constexpr size_t kMaxQueuedEvents = 256;       // per stream; the oldest go first when full
constexpr size_t kMaxReadingsPerEvent = 1000;  // a `readings` event carries at most this many
// Ingest-to-store latency buckets, seconds.
constexpr double kLatencyBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,    0.25,  0.5,    1,     2.5,  5,     10};
constexpr size_t kBucketCount = std::size(kLatencyBuckets);

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

json ReadingJson(const Reading& r) {
  json j = {{"device", r.device_id},
            {"sensor", r.sensor},
            {"t", Seconds(r.ts_ns)},
            {"ts_ns", std::to_string(r.ts_ns)},
            {"value", r.value}};
  if (!r.unit.empty()) j["unit"] = r.unit;
  if (!r.location.empty()) j["location"] = r.location;
  if (r.flags & Reading::kReceiveTime) j["receive_time"] = true;
  return j;
}

json InsightJson(const Insight& in) {
  return {{"device", in.device_id},
          {"sensor", in.sensor},
          {"t", Seconds(in.ts_ns)},
          {"ts_ns", std::to_string(in.ts_ns)},
          {"kind", InsightKindName(in.kind)},
          {"summary", in.summary},
          {"actions", in.actions},
          {"confidence", in.confidence},
          {"value", in.value},
          {"expected", in.expected},
          {"score", in.score}};
}

json WindowResultJson(const WindowResult& w) {
  json percentiles = json::object();
  for (const auto& [p, v] : w.percentiles) percentiles[fmt::format("p{}", p)] = v;
  return {{"window", w.window},
          {"device", w.device_id},
          {"sensor", w.sensor},
          {"start", Seconds(w.start_ns)},
          {"end", Seconds(w.end_ns)},
          {"start_ns", std::to_string(w.start_ns)},
          {"end_ns", std::to_string(w.end_ns)},
          {"count", w.count},
          {"mean", w.mean},
          {"min", w.min},
          {"max", w.max},
          {"stddev", w.stddev},
          {"percentiles", percentiles},
          {"revision", w.revision}};
}

json WindowSpecJson(const stream::WindowSpec& s) {
  json j = {{"name", s.name},
            {"type", stream::WindowKindName(s.kind)},
            {"watermark_delay_s", Seconds(s.watermark_delay_ns)},
            {"allowed_lateness_s", Seconds(s.allowed_lateness_ns)},
            {"idle_timeout_s", Seconds(s.idle_timeout_ns)},
            {"sensors", s.sensors},
            {"percentiles", s.percentiles}};
  if (s.kind == stream::WindowKind::kSession) {
    j["gap_s"] = Seconds(s.gap_ns);
    j["max_duration_s"] = Seconds(s.max_duration_ns);
  } else {
    j["size_s"] = Seconds(s.size_ns);
  }
  if (s.kind == stream::WindowKind::kSliding) j["slide_s"] = Seconds(s.slide_ns);
  return j;
}

json AnalyticsJson(const stream::AnalyticsOptions& a) {
  return {{"detector", a.detector == stream::DetectorKind::kEnsemble ? "ensemble" : "sigma"},
          {"anomaly_threshold", a.anomaly_threshold},
          {"ensemble_warmup", a.ensemble_warmup},
          {"window", a.window},
          {"sigma", a.sigma},
          {"min_samples", a.min_samples},
          {"trend_window", a.trend_window},
          {"trend_threshold", a.trend_threshold},
          {"holt_alpha", a.holt_alpha},
          {"holt_beta", a.holt_beta},
          {"stuck_factor", a.stuck_factor},
          {"stuck_min_run", a.stuck_min_run}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void Error(httplib::Response& res, int status, std::string_view message) {
  res.status = status;
  res.set_content(Dump({{"error", message}}), "application/json");
}

void Error(httplib::Response& res, int status, const absl::Status& error) {
  Error(res, status, std::string(error.message()));
}

bool IsLoopback(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.starts_with("127.");
}

// A live stream's queue of serialised events.
struct Stream {
  std::string device;  // readings filter; empty: all
  std::deque<std::string> events;
  uint64_t dropped = 0;
  bool closed = false;
};

struct SensorEntry {
  double value = 0;
  std::string unit;
  int64_t ts_ns = 0;
};

struct DeviceEntry {
  int64_t last_seen_ns = 0;  // gateway receive time of the newest reading
  int64_t readings = 0;
  int64_t anomalies = 0;
  std::map<std::string, SensorEntry> sensors;
};

}  // namespace

struct ApiServer::Impl {
  ApiOptions options;
  const gateway::Gateway* gateway = nullptr;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listening_ended{false};
  std::string host;
  int port = 0;
  bool stopped = false;

  std::mutex directory_mu;
  std::map<std::string, DeviceEntry> directory;  // guarded by directory_mu
  // While SeedDirectory reads the store, what retention deleted of its snapshot since: taken
  // off once the snapshot's counts are in. Guarded by directory_mu.
  bool seeding = false;
  std::map<std::string, store::Expired::Device> expired_while_seeding;
  // SeedDirectory's thread, and its reader while it reads.
  std::mutex seed_mu;
  std::unique_ptr<store::Store> seed_store;  // guarded by seed_mu
  std::thread seed_thread;
  std::atomic<bool> seed_interrupted{false};

  std::array<std::atomic<uint64_t>, kBucketCount> latency_buckets{};
  std::atomic<uint64_t> latency_count{0};
  std::atomic<int64_t> latency_sum_ns{0};

  std::mutex streams_mu;
  std::condition_variable streams_cv;
  std::vector<std::shared_ptr<Stream>> streams;  // guarded by streams_mu
  std::atomic<uint64_t> stream_events_dropped{0};

  std::string store_path() const { return gateway->config().store.path; }

  void SeedDirectory() {
    if (seed_thread.joinable()) return;  // once
    auto store = store::Store::Open({.path = store_path(), .read_only = true});
    if (!store.ok()) return;  // no store yet: nothing before
    absl::Status pinned;
    gateway->BetweenCommits([&] {
      pinned = (*store)->BeginRead();
      // What Publish added, and Expire took off, so far is in the snapshot too.
      std::lock_guard lock(directory_mu);
      directory.clear();
      seeding = pinned.ok();
    });
    if (!pinned.ok()) {
      spdlog::warn("api: reading devices from the store: {}", pinned.message());
      return;
    }
    std::lock_guard seed_lock(seed_mu);
    seed_store = std::move(*store);
    seed_thread = std::thread([this, reader = seed_store.get()] {
      const int64_t start = MonotonicNs();
      auto keys = reader->Keys();
      (void)reader->EndRead();
      {
        std::lock_guard closing(seed_mu);
        seed_store.reset();  // its connection and page cache are not needed any more
      }
      std::lock_guard lock(directory_mu);
      seeding = false;
      if (!keys.ok()) {
        expired_while_seeding.clear();
        if (!seed_interrupted) {
          spdlog::warn("api: reading devices from the store: {}", keys.status().message());
        }
        return;
      }
      for (const store::KeySummary& k : *keys) {
        DeviceEntry& d = directory[k.device_id];
        d.last_seen_ns = std::max(d.last_seen_ns, k.last_received_ns);
        d.readings += k.readings;
        d.anomalies += k.anomalies;
        SensorEntry& s = d.sensors[k.sensor];
        if (k.last_ts_ns >= s.ts_ns) s = {k.last_value, k.unit, k.last_ts_ns};
      }
      for (const auto& [id, gone] : expired_while_seeding) TakeOff(id, gone);
      expired_while_seeding.clear();
      spdlog::info("api: {} keys of {} devices read from the store in {:.1f} s", keys->size(),
                   directory.size(), static_cast<double>(MonotonicNs() - start) / 1e9);
    });
  }

  void Expire(const store::Expired& expired) {
    std::lock_guard lock(directory_mu);
    for (const auto& [id, gone] : expired.devices) {
      if (seeding) {
        store::Expired::Device& pending = expired_while_seeding[id];
        pending.readings += gone.readings;
        pending.anomalies += gone.anomalies;
      } else {
        TakeOff(id, gone);
      }
    }
  }

  // A device none of whose readings the store holds any more is gone from the directory, as
  // from the one a restart would read. Requires directory_mu.
  void TakeOff(const std::string& id, const store::Expired::Device& gone) {
    auto it = directory.find(id);
    if (it == directory.end()) return;
    it->second.readings -= gone.readings;
    it->second.anomalies -= gone.anomalies;
    if (it->second.readings <= 0) directory.erase(it);
  }

  bool Online(const DeviceEntry& d, int64_t now) const {
    return now - d.last_seen_ns <= options.online_window_s * kNsPerSecond;
  }

  json DeviceJson(const std::string& id, const DeviceEntry& d, int64_t now, bool with_sensors) {
    json j = {{"id", id},
              {"status", Online(d, now) ? "online" : "stale"},
              {"last_seen", Seconds(d.last_seen_ns)},
              {"readings", d.readings},
              {"anomalies", d.anomalies}};
    json sensors = json::array();
    for (const auto& [name, s] : d.sensors) {
      if (with_sensors) {
        json sj = {{"sensor", name}, {"value", s.value}, {"t", Seconds(s.ts_ns)}};
        if (!s.unit.empty()) sj["unit"] = s.unit;
        sensors.push_back(sj);
      } else {
        sensors.push_back(name);
      }
    }
    j["sensors"] = sensors;
    return j;
  }

  void Publish(const ResultBatch& committed) {
    const std::vector<Reading>& readings = committed.readings;
    const std::vector<Insight>& insights = committed.insights;
    const int64_t now = Clock::Real()->NowNs();
    {
      std::lock_guard lock(directory_mu);
      for (const Reading& r : readings) {
        DeviceEntry& d = directory[r.device_id];
        d.last_seen_ns = std::max(d.last_seen_ns, r.received_ns);
        ++d.readings;
        SensorEntry& s = d.sensors[r.sensor];
        if (r.ts_ns >= s.ts_ns) s = {r.value, r.unit, r.ts_ns};
      }
      for (const Insight& in : insights) {
        if (in.kind == Insight::Kind::kAnomaly) ++directory[in.device_id].anomalies;
      }
    }
    for (const Reading& r : readings) {
      const int64_t latency = now - r.received_ns;
      const double s = Seconds(latency);
      size_t b = 0;
      while (b < kBucketCount && s > kLatencyBuckets[b]) ++b;
      if (b < kBucketCount) latency_buckets[b].fetch_add(1, std::memory_order_relaxed);
      latency_sum_ns.fetch_add(latency, std::memory_order_relaxed);
    }
    latency_count.fetch_add(readings.size(), std::memory_order_relaxed);

    std::lock_guard lock(streams_mu);
    if (streams.empty()) return;
    std::vector<std::string> insight_events;
    for (const Insight& in : insights) {
      insight_events.push_back(StrCat("event: insight\ndata: ", Dump(InsightJson(in)), "\n\n"));
    }
    for (const std::shared_ptr<Stream>& stream : streams) {
      json batch = json::array();
      size_t skipped = 0;
      for (const Reading& r : readings) {
        if (!stream->device.empty() && r.device_id != stream->device) continue;
        if (batch.size() >= kMaxReadingsPerEvent) {
          ++skipped;
          continue;
        }
        batch.push_back(ReadingJson(r));
      }
      auto push = [&](std::string event) {
        if (stream->events.size() >= kMaxQueuedEvents) {
          stream->events.pop_front();
          ++stream->dropped;
          stream_events_dropped.fetch_add(1, std::memory_order_relaxed);
        }
        stream->events.push_back(std::move(event));
      };
      if (!batch.empty()) {
        push(StrCat("event: readings\ndata: ", Dump({{"readings", batch}, {"skipped", skipped}}),
                    "\n\n"));
      }
      for (const std::string& e : insight_events) push(e);
      for (const WindowResult& w : committed.windows) {
        if (!stream->device.empty() && w.device_id != stream->device) continue;
        push(StrCat("event: window\ndata: ", Dump(WindowResultJson(w)), "\n\n"));
      }
    }
    streams_cv.notify_all();
  }

  bool Authorized(const httplib::Request& req) const {
    if (options.token.empty()) return true;
    const std::string expected = "Bearer " + options.token;
    if (req.get_header_value("Authorization") == expected) return true;
    return req.has_param("access_token") && req.get_param_value("access_token") == options.token;
  }

  // Parses an integer query parameter within [min, max]; false (and a 400) when malformed.
  static bool IntParam(const httplib::Request& req, httplib::Response& res, const char* name,
                       int64_t min, int64_t max, int64_t* out) {
    if (!req.has_param(name)) return true;
    std::string text = req.get_param_value(name);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
      Error(res, 400,
            StrCat("query parameter ", name, " must be an integer in [", min, ", ", max, "], got '",
                   text.substr(0, 40), "'"));
      return false;
    }
    *out = v;
    return true;
  }

  static bool DeviceParam(const httplib::Request& req, httplib::Response& res, std::string* out) {
    if (!req.has_param("device")) return true;
    *out = req.get_param_value("device");
    if (!IsValidDeviceId(*out)) {
      Error(res, 400, "query parameter device is not a valid device id");
      return false;
    }
    return true;
  }

  static bool BoolParam(const httplib::Request& req, const char* name) {
    if (!req.has_param(name)) return false;
    std::string v = req.get_param_value(name);
    return v == "1" || v == "true" || v.empty();
  }

  // The parameters readings and insights share: device, from, to (ns), limit, latest. False (and
  // a 400) when one is malformed.
  template <typename Query>
  static bool RangeParams(const httplib::Request& req, httplib::Response& res, Query* q) {
    if (!DeviceParam(req, res, &q->device_id) ||
        !IntParam(req, res, "from", 0, INT64_MAX, &q->from_ns) ||
        !IntParam(req, res, "to", 0, INT64_MAX, &q->to_ns) ||
        !IntParam(req, res, "limit", 1, kMaxLimit, &q->limit)) {
      return false;
    }
    q->latest = BoolParam(req, "latest");
    return true;
  }

  void HandleReadings(const httplib::Request& req, httplib::Response& res) {
    store::ReadingQuery q;
    if (!RangeParams(req, res, &q)) return;
    if (req.has_param("sensor")) {
      q.sensor = req.get_param_value("sensor");
      if (!IsValidSensorName(q.sensor))
        return Error(res, 400, "query parameter sensor is not valid");
    }
    auto store = store::Store::Open({.path = store_path(), .read_only = true});
    if (!store.ok()) return Error(res, 503, store.status());
    auto rows = (*store)->Readings(q);
    if (!rows.ok()) return Error(res, 503, rows.status());
    json out = json::array();
    for (const Reading& r : *rows) out.push_back(ReadingJson(r));
    res.set_content(Dump({{"readings", out}, {"count", out.size()}}), "application/json");
  }

  void HandleInsights(const httplib::Request& req, httplib::Response& res,
                      std::optional<Insight::Kind> kind) {
    store::InsightQuery q;
    q.kind = kind;
    if (!RangeParams(req, res, &q)) return;
    if (req.has_param("kind") && !kind) {
      q.kind = ParseInsightKind(req.get_param_value("kind"));
      if (!q.kind) return Error(res, 400, "query parameter kind must be anomaly, trend or stuck");
    }
    auto store = store::Store::Open({.path = store_path(), .read_only = true});
    if (!store.ok()) return Error(res, 503, store.status());
    auto rows = (*store)->Insights(q);
    if (!rows.ok()) return Error(res, 503, rows.status());
    json out = json::array();
    for (const Insight& in : *rows) out.push_back(InsightJson(in));
    res.set_content(Dump({{"insights", out}, {"count", out.size()}}), "application/json");
  }

  // A page of a list in id order: ?match (a part of the id), ?offset and ?limit.
  struct Page {
    std::string match;
    int64_t offset = 0;
    int64_t limit = kDefaultLimit;
    bool Matches(const std::string& id) const { return id.find(match) != std::string::npos; }
    // Whether the index-th match goes on a page that has `taken` entries so far.
    bool Takes(int64_t index, size_t taken) const {
      return index >= offset && static_cast<int64_t>(taken) < limit;
    }
  };
  static bool PageParams(const httplib::Request& req, httplib::Response& res, Page* page) {
    page->match = req.get_param_value("match");
    return IntParam(req, res, "offset", 0, INT64_MAX, &page->offset) &&
           IntParam(req, res, "limit", 1, kMaxLimit, &page->limit);
  }

  // The devices in id order: ?match (a part of the id), ?status (online or stale), ?offset and
  // ?limit page through them; "total" counts those matching, "fleet" every device.
  void HandleDevices(const httplib::Request& req, httplib::Response& res) {
    Page page;
    if (!PageParams(req, res, &page)) return;
    const std::string status = req.get_param_value("status");
    if (!status.empty() && status != "online" && status != "stale")
      return Error(res, 400, "query parameter status must be online or stale");
    const int64_t now = Clock::Real()->NowNs();
    json out = json::array();
    int64_t total = 0, online = 0;
    std::lock_guard lock(directory_mu);
    for (const auto& [id, d] : directory) {
      const bool is_online = Online(d, now);
      online += is_online;
      if (!page.Matches(id) || (!status.empty() && is_online != (status == "online"))) continue;
      if (page.Takes(total++, out.size())) out.push_back(DeviceJson(id, d, now, false));
    }
    res.set_content(Dump({{"devices", out},
                          {"count", out.size()},
                          {"total", total},
                          {"fleet", {{"devices", directory.size()}, {"online", online}}}}),
                    "application/json");
  }

  // Window results, or with `late` the late readings: ?window&device&sensor&from&to&limit&latest.
  void HandleWindows(const httplib::Request& req, httplib::Response& res, bool late) {
    store::WindowQuery q;
    if (!RangeParams(req, res, &q)) return;
    if (req.has_param("sensor")) {
      q.sensor = req.get_param_value("sensor");
      if (!IsValidSensorName(q.sensor))
        return Error(res, 400, "query parameter sensor is not valid");
    }
    if (req.has_param("window")) {
      q.window = req.get_param_value("window");
      const auto& specs = gateway->config().windows;
      if (std::none_of(specs.begin(), specs.end(),
                       [&](const stream::WindowSpec& s) { return s.name == q.window; })) {
        return Error(res, 404, StrCat("no window named '", q.window.substr(0, 64), "'"));
      }
    }
    auto store = store::Store::Open({.path = store_path(), .read_only = true});
    if (!store.ok()) return Error(res, 503, store.status());
    json out = json::array();
    if (late) {
      auto rows = (*store)->LateReadings(q);
      if (!rows.ok()) return Error(res, 503, rows.status());
      for (const LateReading& l : *rows) {
        json j = ReadingJson(l.reading);
        j["window"] = l.window;
        j["watermark"] = Seconds(l.watermark_ns);
        out.push_back(std::move(j));
      }
      res.set_content(Dump({{"late_readings", out}, {"count", out.size()}}), "application/json");
      return;
    }
    auto rows = (*store)->WindowResults(q);
    if (!rows.ok()) return Error(res, 503, rows.status());
    for (const WindowResult& w : *rows) out.push_back(WindowResultJson(w));
    res.set_content(Dump({{"windows", out}, {"count", out.size()}}), "application/json");
  }

  // PATCH /api/v1/twins/{id} with {"desired": {...}, "version": N}: a merge patch of desired,
  // refused with 409 when the twin's version is not N (omit it to overwrite regardless).
  void HandleTwinPatch(const httplib::Request& req, httplib::Response& res) {
    twin::TwinRegistry* twins = gateway->twins();
    if (twins == nullptr) return Error(res, 404, "twins are disabled (twins.enabled: false)");
    const std::string id = req.matches[1];
    if (!IsValidDeviceId(id)) return Error(res, 400, "not a valid device id");
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("desired")) {
      return Error(res, 400, R"(body must be a JSON object {"desired": {...}, "version": N})");
    }
    std::optional<int64_t> version;
    if (body.contains("version")) {
      if (!body["version"].is_number_integer())
        return Error(res, 400, "version must be an integer");
      version = body["version"].get<int64_t>();
    }
    for (const auto& [key, value] : body.items()) {
      if (key != "desired" && key != "version") {
        return Error(res, 400, StrCat("unknown field '", key.substr(0, 40), "'"));
      }
    }
    auto updated = twins->UpdateDesired(id, body["desired"], version);
    if (!updated.ok()) {
      const absl::StatusCode code = updated.status().code();
      return Error(res,
                   code == absl::StatusCode::kAborted           ? 409
                   : code == absl::StatusCode::kInvalidArgument ? 400
                                                                : 503,
                   updated.status());
    }
    res.set_content(Dump(*updated), "application/json");
  }

  void HandleStream(const httplib::Request& req, httplib::Response& res) {
    auto stream = std::make_shared<Stream>();
    if (!DeviceParam(req, res, &stream->device)) return;
    {
      std::lock_guard lock(streams_mu);
      if (streams.size() >= kMaxStreams) {
        return Error(res, 503, StrCat("too many live streams (", kMaxStreams, ")"));
      }
      streams.push_back(stream);
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, stream](size_t offset, httplib::DataSink& sink) {
          if (offset == 0) {  // tell the client at once that the stream is open
            static constexpr std::string_view kOpen = ": stream open\n\n";
            return sink.write(kOpen.data(), kOpen.size());
          }
          std::deque<std::string> ready;
          {
            std::unique_lock lock(streams_mu);
            streams_cv.wait_for(lock, std::chrono::seconds(15),
                                [&] { return stream->closed || !stream->events.empty(); });
            if (stream->closed) return false;
            ready.swap(stream->events);
          }
          if (ready.empty()) {
            static constexpr std::string_view kPing = ": keep-alive\n\n";
            return sink.write(kPing.data(), kPing.size());
          }
          for (const std::string& e : ready) {
            if (!sink.write(e.data(), e.size())) return false;
          }
          return true;
        },
        [this, stream](bool) {
          std::lock_guard lock(streams_mu);
          std::erase(streams, stream);
        });
  }

  std::string Metrics() {
    const gateway::GatewayStats s = gateway->stats();
    std::string out;
    auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                      auto value) {
      out += StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                    value, "\n");
    };
    metric("edgeway_messages_received_total", "counter", "MQTT messages handed to the decoder.",
           s.messages_received);
    out +=
        "# HELP edgeway_rejected_total Messages (readings, for queue_full and implausible) "
        "refused, by reason.\n"
        "# TYPE edgeway_rejected_total counter\n";
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      out += StrCat("edgeway_rejected_total{reason=\"",
                    RejectReasonName(static_cast<RejectReason>(r)), "\"} ", s.rejected[r], "\n");
    }
    metric("edgeway_readings_received_total", "counter", "Readings decoded.", s.readings_received);
    metric("edgeway_readings_stored_total", "counter", "Readings written to the store.",
           s.readings_stored);
    metric("edgeway_readings_duplicate_total", "counter",
           "Redelivered readings recognised and not stored twice.", s.readings_duplicate);
    metric("edgeway_insights_stored_total", "counter", "Insights written to the store.",
           s.insights_stored);
    metric("edgeway_anomalies_detected_total", "counter", "Readings judged anomalous.",
           s.anomalies_detected);
    metric("edgeway_stuck_sensors_total", "counter",
           "Sensors found reading one value for too long (stuck insights).", s.stuck_sensors);
    metric("edgeway_window_results_stored_total", "counter",
           "Event-time window results written, late revisions included.", s.window_results_stored);
    metric("edgeway_late_readings_total", "counter",
           "Readings that missed every window they belong to (kept as late readings).",
           s.late_readings);
    metric("edgeway_analytics_states_saved_total", "counter",
           "Keys' analytics state saved by the periodic snapshots (analytics.save_interval_s).",
           s.analytics_states_saved);
    metric("edgeway_clock_substituted_total", "counter",
           "Readings given the receive time for an implausible device clock.", s.clock_substituted);
    metric("edgeway_store_failed_total", "counter", "Rows lost to store errors.", s.store_failed);
    metric("edgeway_store_expired_total", "counter",
           "Rows deleted by the retention (store.retention_hours).", s.store_expired);
    metric("edgeway_devices", "gauge", "Distinct devices seen.", s.devices);
    metric("edgeway_keys", "gauge", "Distinct (device, sensor) keys with analytics state.", s.keys);
    metric("edgeway_keys_forgotten_total", "counter",
           "Keys dropped after analytics.forget_after_s without a reading.", s.keys_forgotten);
    out +=
        "# HELP edgeway_queue_depth Items waiting in a queue.\n# TYPE edgeway_queue_depth gauge\n";
    out += StrCat("edgeway_queue_depth{queue=\"shards\"} ", s.queued, "\n");
    out += StrCat("edgeway_queue_depth{queue=\"store\"} ", s.store_queued_batches, "\n");
    metric("edgeway_mqtt_connected", "gauge", "1 while connected to the broker.",
           gateway->connected() ? 1 : 0);
    if (!gateway->config().upstream.url.empty()) {
      metric("edgeway_upstream_connected", "gauge", "1 while connected to the upstream broker.",
             s.upstream_connected ? 1 : 0);
      metric("edgeway_outbox_backlog_messages", "gauge", "Messages waiting for the upstream.",
             s.outbox_backlog);
      metric("edgeway_outbox_backlog_bytes", "gauge", "Payload bytes waiting for the upstream.",
             s.outbox_backlog_bytes);
      metric("edgeway_outbox_forwarded_total", "counter",
             "Messages acknowledged by the upstream and removed from the outbox.",
             s.outbox_forwarded);
      metric("edgeway_outbox_dropped_total", "counter",
             "Messages dropped by the outbox limit (upstream.overflow).", s.outbox_dropped);
    }
    metric("edgeway_stream_events_dropped_total", "counter",
           "Live-stream events dropped for slow clients.", stream_events_dropped.load());

    out +=
        "# HELP edgeway_ingest_to_store_seconds From MQTT receipt to store commit.\n"
        "# TYPE edgeway_ingest_to_store_seconds histogram\n";
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBucketCount; ++b) {
      cumulative += latency_buckets[b].load(std::memory_order_relaxed);
      out += StrCat("edgeway_ingest_to_store_seconds_bucket{le=\"", kLatencyBuckets[b], "\"} ",
                    cumulative, "\n");
    }
    const uint64_t count = latency_count.load(std::memory_order_relaxed);
    out += StrCat("edgeway_ingest_to_store_seconds_bucket{le=\"+Inf\"} ", count, "\n");
    out += StrCat("edgeway_ingest_to_store_seconds_sum ", Seconds(latency_sum_ns.load()), "\n");
    out += StrCat("edgeway_ingest_to_store_seconds_count ", count, "\n");

    std::error_code ec;
    uint64_t store_bytes = 0;
    for (const char* suffix : {"", "-wal"}) {
      uintmax_t size = std::filesystem::file_size(store_path() + suffix, ec);
      if (!ec) store_bytes += size;
    }
    metric("edgeway_store_bytes", "gauge", "Size of the SQLite store and its WAL.", store_bytes);
    long pages = 0, resident = 0;
    std::ifstream statm("/proc/self/statm");
    statm >> pages >> resident;
    metric("edgeway_resident_memory_bytes", "gauge", "Resident memory of this process.",
           resident * sysconf(_SC_PAGESIZE));
    return out;
  }

  void Routes() {
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (Authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("WWW-Authenticate", "Bearer");
      Error(res, 401, "missing or wrong bearer token");
      return httplib::Server::HandlerResponse::Handled;
    });
    server.Get("/api/v1/health/live", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    server.Get("/api/v1/health/ready", [this](const httplib::Request&, httplib::Response& res) {
      bool ready = gateway->connected();
      res.status = ready ? 200 : 503;
      res.set_content(Dump({{"status", ready ? "ready" : "not connected to the broker"},
                            {"broker", gateway->broker_url()}}),
                      "application/json");
    });
    server.Get("/api/v1/summary", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(Dump(gateway->Summary()), "application/json");
    });
    server.Get("/api/v1/pipelines", [this](const httplib::Request&, httplib::Response& res) {
      const gateway::GatewayConfig& c = gateway->config();
      json pipeline = {
          {"name", "telemetry"},
          {"topics", c.mqtt.topics},
          {"qos", c.mqtt.qos},
          {"stages", c.windows.empty() ? json{"decode", "analytics", "store"}
                                       : json{"decode", "analytics", "windows", "store"}},
          {"analytics", AnalyticsJson(c.analytics)},
          {"windows", json::array()},
          {"upstream",
           c.upstream.url.empty()
               ? json(nullptr)
               : json{{"url", c.upstream.url},
                      {"topic", StrCat(c.upstream.prefix, "/{device}/senml")},
                      {"readings", c.upstream.readings},
                      {"insights", c.upstream.insights},
                      {"windows", c.upstream.windows},
                      {"max_bytes", c.upstream.max_bytes},
                      {"overflow", c.upstream.drop_oldest ? "drop_oldest" : "refuse_new"}}},
          {"store", {{"path", c.store.path}, {"retention_hours", c.store.retention_hours}}}};
      // ingest.plausible; an open end is null.
      json& plausible = pipeline["plausible"] = json::array();
      for (const gateway::GatewayConfig::PlausibleRange& p : c.ingest.plausible) {
        auto end = [](double x) { return std::isinf(x) ? json(nullptr) : json(x); };
        plausible.push_back({{"sensors", p.sensors}, {"min", end(p.min)}, {"max", end(p.max)}});
      }
      for (const stream::WindowSpec& w : c.windows)
        pipeline["windows"].push_back(WindowSpecJson(w));
      json& analytics = pipeline["analytics"];
      analytics["save_interval_s"] = c.analytics_save_interval_s;
      analytics["forget_after_s"] = c.analytics_forget_after_s;
      // Sensors judged otherwise: each entry's sensors and its options.
      json& per_sensor = analytics["per_sensor"] = json::array();
      for (const stream::SensorAnalytics& s : c.analytics_per_sensor) {
        json entry = AnalyticsJson(s.options);
        entry["sensors"] = s.sensors;
        per_sensor.push_back(std::move(entry));
      }
      res.set_content(Dump({{"pipelines", json::array({pipeline})}}), "application/json");
    });
    server.Get("/api/v1/devices", [this](const httplib::Request& req, httplib::Response& res) {
      HandleDevices(req, res);
    });
    server.Get(R"(/api/v1/devices/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 const std::string id = req.matches[1];
                 if (!IsValidDeviceId(id)) return Error(res, 400, "not a valid device id");
                 std::lock_guard lock(directory_mu);
                 auto it = directory.find(id);
                 if (it == directory.end()) return Error(res, 404, StrCat("no device '", id, "'"));
                 res.set_content(Dump(DeviceJson(id, it->second, Clock::Real()->NowNs(), true)),
                                 "application/json");
               });
    server.Get("/api/v1/readings", [this](const httplib::Request& req, httplib::Response& res) {
      HandleReadings(req, res);
    });
    server.Get("/api/v1/insights", [this](const httplib::Request& req, httplib::Response& res) {
      HandleInsights(req, res, std::nullopt);
    });
    server.Get("/api/v1/anomalies", [this](const httplib::Request& req, httplib::Response& res) {
      HandleInsights(req, res, Insight::Kind::kAnomaly);
    });
    server.Get("/api/v1/windows", [this](const httplib::Request& req, httplib::Response& res) {
      HandleWindows(req, res, false);
    });
    server.Get("/api/v1/windows/late", [this](const httplib::Request& req, httplib::Response& res) {
      HandleWindows(req, res, true);
    });
    server.Get("/api/v1/twins", [this](const httplib::Request& req, httplib::Response& res) {
      Page page;
      if (!PageParams(req, res, &page)) return;
      twin::TwinRegistry* twins = gateway->twins();
      json out = json::array();
      int64_t total = 0;
      if (twins != nullptr) {
        for (const std::string& id : twins->Devices()) {
          if (!page.Matches(id) || !page.Takes(total++, out.size())) continue;
          auto doc = twins->Get(id);
          if (doc.ok()) out.push_back(*doc);
        }
      }
      res.set_content(Dump({{"twins", out}, {"count", out.size()}, {"total", total}}),
                      "application/json");
    });
    server.Get(R"(/api/v1/twins/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 twin::TwinRegistry* twins = gateway->twins();
                 if (twins == nullptr) return Error(res, 404, "twins are disabled");
                 const std::string id = req.matches[1];
                 if (!IsValidDeviceId(id)) return Error(res, 400, "not a valid device id");
                 auto doc = twins->Get(id);
                 if (!doc.ok()) return Error(res, 404, doc.status());
                 res.set_content(Dump(*doc), "application/json");
               });
    server.Patch(
        R"(/api/v1/twins/([^/]+))",
        [this](const httplib::Request& req, httplib::Response& res) { HandleTwinPatch(req, res); });
    server.Get("/api/v1/stream", [this](const httplib::Request& req, httplib::Response& res) {
      HandleStream(req, res);
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(Metrics(), "text/plain; version=0.0.4");
    });
    server.Get(R"(/(.*))", [](const httplib::Request& req, httplib::Response& res) {
      std::string path = req.path == "/" ? "/index.html" : req.path;
      const internal::Asset* asset = internal::FindAsset(path);
      if (asset == nullptr)
        return Error(res, 404, StrCat("no such path: ", req.path.substr(0, 100)));
      res.set_content(std::string(asset->body), std::string(asset->content_type).c_str());
    });
  }
};

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiServer::~ApiServer() { Stop(); }

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(ApiOptions options,
                                                            const gateway::Gateway* gateway) {
  auto impl = std::make_unique<Impl>();
  size_t colon = options.listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat("http listen address '", options.listen, "' must be host:port"));
  }
  impl->host = options.listen.substr(0, colon);
  if (impl->host.size() > 2 && impl->host.front() == '[')
    impl->host = impl->host.substr(1, impl->host.size() - 2);
  std::string port_text = options.listen.substr(colon + 1);
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        StrCat("http listen address '", options.listen, "': bad port '", port_text, "'"));
  }
  if (!IsLoopback(impl->host) && options.token.empty()) {
    return absl::InvalidArgumentError(StrCat(
        "http listen address '", options.listen,
        "' is reachable from other machines: set http.token (a bearer token) to expose the API"));
  }
  impl->options = std::move(options);
  impl->gateway = gateway;
  impl->server.new_task_queue = [] { return new httplib::ThreadPool(kMaxStreams + 4); };
  impl->server.set_read_timeout(std::chrono::seconds(10));
  impl->server.set_payload_max_length(64 * 1024);
  impl->Routes();
  if (port == 0) {
    impl->port = impl->server.bind_to_any_port(impl->host);
  } else {
    impl->port = impl->server.bind_to_port(impl->host, port) ? port : -1;
  }
  if (impl->port <= 0) {
    return absl::UnavailableError(StrCat("http: cannot listen on ", impl->options.listen,
                                         " (in use, or not an address of this machine)"));
  }
  Impl* p = impl.get();
  impl->thread = std::thread([p] {
    p->server.listen_after_bind();
    p->listening_ended = true;
  });
  // httplib's stop() does nothing until the listening loop has begun: a Stop() before that would
  // leave the loop waiting in accept() for ever, and Stop() waiting for it.
  while (!p->server.is_running() && !p->listening_ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("dashboard and API at http://{}:{}/", p->host, p->port);
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

void ApiServer::Publish(const ResultBatch& committed) { impl_->Publish(committed); }
void ApiServer::Expire(const store::Expired& expired) { impl_->Expire(expired); }
void ApiServer::SeedDirectory() { impl_->SeedDirectory(); }

std::string ApiServer::url() const {
  bool v6 = impl_->host.find(':') != std::string::npos;
  return StrCat("http://", v6 ? "[" : "", impl_->host, v6 ? "]" : "", ":", impl_->port);
}

void ApiServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  {
    std::lock_guard lock(impl_->streams_mu);
    for (auto& stream : impl_->streams) stream->closed = true;
  }
  impl_->streams_cv.notify_all();
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  {
    std::lock_guard lock(impl_->seed_mu);
    impl_->seed_interrupted = true;
    if (impl_->seed_store) impl_->seed_store->Interrupt();
  }
  if (impl_->seed_thread.joinable()) impl_->seed_thread.join();
}

}  // namespace edgeway::api
