#include "edgeway/gateway/config.h"

#include <cctype>
#include <cmath>

#include "absl/algorithm/container.h"
#include "absl/time/time.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/strings.h"
#include "edgeway/core/yaml_reader.h"

namespace edgeway::gateway {
namespace {

constexpr int64_t kMax = INT64_MAX / 4;
constexpr double kMaxWindowSeconds = 366.0 * 24 * 3600;
constexpr int64_t kDefaultSessionMaxDuration = 3600 * kNsPerSecond;

// Reads a duration in seconds (fractions allowed) into nanoseconds.
void ReadSeconds(YamlReader& r, std::string_view key, int64_t* out_ns, double min_s) {
  double seconds = static_cast<double>(*out_ns) / kNsPerSecond;
  r.Read(key, &seconds, min_s, kMaxWindowSeconds);
  *out_ns = static_cast<int64_t>(std::llround(seconds * kNsPerSecond));
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.') {
      return false;
    }
  }
  return true;
}

void ReadWindows(YamlReader root, std::vector<stream::WindowSpec>* out) {
  for (YamlReader w : root.List("windows")) {
    stream::WindowSpec spec;
    w.Read("name", &spec.name);
    if (!ValidName(spec.name)) {
      w.Fail("name",
             StrCat("must be 1 to 64 letters, digits, '_', '-' or '.', got '", spec.name, "'"));
    }
    for (const stream::WindowSpec& other : *out) {
      if (other.name == spec.name) w.Fail("name", StrCat("'", spec.name, "' is declared twice"));
    }
    std::string type;
    w.ReadEnum("type", &type, {"tumbling", "sliding", "session"});
    if (type.empty()) w.Fail("type", "is required: tumbling, sliding or session");
    spec.kind = type == "sliding"   ? stream::WindowKind::kSliding
                : type == "session" ? stream::WindowKind::kSession
                                    : stream::WindowKind::kTumbling;
    const bool aligned = spec.kind != stream::WindowKind::kSession;
    // Each kind takes its own length keys; the others are mistakes worth naming.
    auto only_for = [&](std::string_view key, bool allowed, std::string_view kinds) {
      if (w.Has(key) && !allowed) {
        w.Fail(key, StrCat("applies to ", kinds, " windows only, not ", type));
      } else if (!w.Has(key) && allowed) {
        w.Fail(key, StrCat("is required for ", type, " windows"));
      }
    };
    only_for("size_s", aligned, "tumbling and sliding");
    only_for("slide_s", spec.kind == stream::WindowKind::kSliding, "sliding");
    only_for("gap_s", !aligned, "session");
    constexpr double kMinLength = 0.001;
    ReadSeconds(w, "size_s", &spec.size_ns, kMinLength);
    ReadSeconds(w, "slide_s", &spec.slide_ns, kMinLength);
    ReadSeconds(w, "gap_s", &spec.gap_ns, kMinLength);
    if (!aligned) {
      // A key that reports more often than the gap would otherwise hold one session, and every
      // value of it, for ever, and never have a result.
      spec.max_duration_ns = kDefaultSessionMaxDuration;
      ReadSeconds(w, "max_duration_s", &spec.max_duration_ns, 0);
      if (spec.max_duration_ns > 0 && spec.max_duration_ns <= spec.gap_ns) {
        if (w.Has("max_duration_s")) {
          w.Fail("max_duration_s", "must be longer than gap_s (or 0: sessions unbounded)");
        } else {
          w.Fail("gap_s", StrCat("must be shorter than max_duration_s (",
                                 kDefaultSessionMaxDuration / kNsPerSecond,
                                 " by default); set max_duration_s longer, or 0 for unbounded "
                                 "sessions"));
        }
      }
    } else if (w.Has("max_duration_s")) {
      w.Fail("max_duration_s", StrCat("applies to session windows only, not ", type));
    }
    ReadSeconds(w, "watermark_delay_s", &spec.watermark_delay_ns, 0);
    ReadSeconds(w, "allowed_lateness_s", &spec.allowed_lateness_ns, 0);
    // By default a key's windows close once it has been silent for as long as a window would
    // have taken to close, had its readings gone on.
    spec.idle_timeout_ns = (aligned ? spec.size_ns : spec.gap_ns) + spec.watermark_delay_ns;
    ReadSeconds(w, "idle_timeout_s", &spec.idle_timeout_ns, 0);
    if (spec.kind == stream::WindowKind::kSliding && spec.slide_ns > 0) {
      if (spec.slide_ns > spec.size_ns || spec.size_ns % spec.slide_ns != 0) {
        w.Fail("slide_s", "must divide size_s (a window then starts every slide_s)");
      } else if (spec.size_ns / spec.slide_ns > 1000) {
        w.Fail("slide_s",
               "must be at least size_s / 1000 (each reading is in size / slide windows)");
      }
    }
    w.Read("sensors", &spec.sensors);
    w.Read("percentiles", &spec.percentiles, 0, 100);
    out->push_back(std::move(spec));
  }
}

// The `sensors` of `entry`, the last of `entries` (analytics.per_sensor, ingest.plausible): at
// least one, and none that an earlier entry lists.
template <typename Entry>
void ReadEntrySensors(YamlReader& r, const std::vector<Entry>& entries, Entry* entry) {
  r.Read("sensors", &entry->sensors);
  if (entry->sensors.empty()) r.Fail("sensors", "must name at least one sensor");
  for (const std::string& sensor : entry->sensors) {
    for (const Entry& other : entries) {
      if (&other != entry && absl::c_linear_search(other.sensors, sensor)) {
        r.Fail("sensors", StrCat("'", sensor, "' is listed by an earlier entry"));
      }
    }
  }
}

// The analytics options of `a` (analytics, or one of its per_sensor entries) over `o`.
void ReadAnalyticsOptions(YamlReader& a, stream::AnalyticsOptions* out) {
  stream::AnalyticsOptions& o = *out;
  a.Read("window", &o.window, 2, 100000);
  a.Read("sigma", &o.sigma, 0.1, 1000);
  a.Read("min_samples", &o.min_samples, 2, 100000);
  a.Read("trend_window", &o.trend_window, 2, 1000);
  a.Read("trend_threshold", &o.trend_threshold, 0, 100);
  a.Read("holt_alpha", &o.holt_alpha, 0, 1);
  a.Read("holt_beta", &o.holt_beta, 0, 1);
  a.ReadEnum<stream::DetectorKind>(
      "detector", &o.detector,
      {{"sigma", stream::DetectorKind::kSigma}, {"ensemble", stream::DetectorKind::kEnsemble}});
  a.Read("anomaly_threshold", &o.anomaly_threshold, 0.0, 1.0);
  a.Read("ensemble_warmup", &o.ensemble_warmup, 10, 10'000'000);
  a.Read("stuck_factor", &o.stuck_factor, 0, 1000);
  a.Read("stuck_min_run", &o.stuck_min_run, 2, 1000000);
  if (o.min_samples > o.window) a.Fail("min_samples", StrCat("must be <= window (", o.window, ")"));
  if (o.trend_window > o.window) {
    a.Fail("trend_window", StrCat("must be <= window (", o.window, ")"));
  }
}

absl::StatusOr<GatewayConfig> Read(YamlReader root) {
  GatewayConfig c;
  {
    YamlReader m = root.Map("mqtt");
    m.Read("broker", &c.mqtt.broker);
    m.Read("client_id", &c.mqtt.client_id);
    m.Read("topics", &c.mqtt.topics);
    m.Read("qos", &c.mqtt.qos, 0, 2);
    m.Read("keepalive_s", &c.mqtt.keepalive_s, 5, 65535);
    m.Read("session_expiry_s", &c.mqtt.session_expiry_s, 0, 4294967295LL);
    m.Read("reconnect_max_s", &c.mqtt.reconnect_max_s, 1, 3600);
    m.Read("tls_ca_file", &c.mqtt.tls_ca_file);
    m.Read("tls_cert_file", &c.mqtt.tls_cert_file);
    m.Read("tls_key_file", &c.mqtt.tls_key_file);
    YamlReader t = m.Map("embedded_tls");
    t.Read("ca_file", &c.mqtt.embedded_tls.ca_file);
    t.Read("cert_file", &c.mqtt.embedded_tls.cert_file);
    t.Read("key_file", &c.mqtt.embedded_tls.key_file);
    t.Read("bind", &c.mqtt.embedded_tls.bind);
    t.Read("port", &c.mqtt.embedded_tls.port, 0, 65535);
    if (!c.mqtt.embedded_tls.ca_file.empty() &&
        (c.mqtt.embedded_tls.cert_file.empty() || c.mqtt.embedded_tls.key_file.empty())) {
      t.Fail("cert_file", "and key_file are needed with ca_file (edgeway certs makes them)");
    }
    if (c.mqtt.topics.empty()) m.Fail("topics", "must name at least one topic");
    if (c.mqtt.client_id.empty() && c.mqtt.session_expiry_s > 0) {
      m.Fail("client_id", "must be set for a persistent session (session_expiry_s > 0)");
    }
  }
  {
    YamlReader in = root.Map("ingest");
    in.Read("max_payload_bytes", &c.ingest.decoder.max_payload_bytes, 64, 256 * 1024 * 1024);
    int64_t skew_s = c.ingest.decoder.max_future_skew_ns / kNsPerSecond;
    in.Read("max_future_skew_s", &skew_s, 0, 10LL * 365 * 24 * 3600);
    c.ingest.decoder.max_future_skew_ns = skew_s * kNsPerSecond;
    std::string min_time;
    in.Read("min_plausible_time", &min_time);
    if (!min_time.empty()) {
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, min_time, &t, &err)) {
        in.Fail("min_plausible_time", StrCat("must be an RFC 3339 time such as "
                                             "2015-01-01T00:00:00Z, got '",
                                             min_time, "'"));
      } else {
        c.ingest.decoder.min_plausible_ns = absl::ToUnixNanos(t);
      }
    }
    in.Read("queue_capacity", &c.ingest.queue_capacity, 1, 1 << 24);
    for (YamlReader p : in.List("plausible")) {
      GatewayConfig::PlausibleRange& range = c.ingest.plausible.emplace_back();
      ReadEntrySensors(p, c.ingest.plausible, &range);
      constexpr double kBig = std::numeric_limits<double>::max();
      p.Read("min", &range.min, -kBig, kBig);
      p.Read("max", &range.max, -kBig, kBig);
      if (!p.Has("min") && !p.Has("max")) {
        p.Fail("sensors", "a plausible range needs a min, a max or both");
      } else if (range.min >= range.max) {
        p.Fail("max", StrCat("must be above min (", range.min, ")"));
      }
    }
    in.ReadEnum<OverflowPolicy>(
        "overflow", &c.ingest.overflow,
        {{"block", OverflowPolicy::kBlock}, {"drop", OverflowPolicy::kDrop}});
  }
  {
    YamlReader a = root.Map("analytics");
    ReadAnalyticsOptions(a, &c.analytics);
    a.Read("shards", &c.shards, 0, 256);
    a.Read("save_interval_s", &c.analytics_save_interval_s, 0, 7 * 24 * 3600);
    a.Read("forget_after_s", &c.analytics_forget_after_s, 0, 10 * 365 * 24 * 3600.0);
    // Entries start from the options above and change what they name.
    for (YamlReader s : a.List("per_sensor")) {
      stream::SensorAnalytics& entry = c.analytics_per_sensor.emplace_back();
      entry.options = c.analytics;
      ReadEntrySensors(s, c.analytics_per_sensor, &entry);
      ReadAnalyticsOptions(s, &entry.options);
    }
  }
  ReadWindows(root, &c.windows);
  {
    YamlReader s = root.Map("store");
    s.Read("path", &c.store.path);
    s.Read("retention_hours", &c.store.retention_hours, 0, kMax / 3600 / kNsPerSecond);
    s.Read("flush_interval_ms", &c.store.flush_interval_ms, 1, 60000);
    s.Read("group_commit_ms", &c.store.group_commit_ms, 0, 60000);
    s.Read("max_rows_per_transaction", &c.store.max_rows_per_transaction, 1, 1000000);
    s.Read("synchronous_full", &c.store.synchronous_full);
    if (c.store.path.empty()) s.Fail("path", "must not be empty");
  }
  {
    YamlReader u = root.Map("upstream");
    u.Read("url", &c.upstream.url);
    u.Read("client_id", &c.upstream.client_id);
    u.Read("prefix", &c.upstream.prefix);
    std::vector<std::string> forward = {"readings"};
    u.Read("forward", &forward);
    c.upstream.readings = c.upstream.insights = c.upstream.windows = false;
    for (const std::string& what : forward) {
      if (what == "readings") {
        c.upstream.readings = true;
      } else if (what == "insights") {
        c.upstream.insights = true;
      } else if (what == "windows") {
        c.upstream.windows = true;
      } else {
        u.Fail("forward", StrCat("lists readings, insights or windows, got '", what, "'"));
      }
    }
    u.Read("qos", &c.upstream.qos, 1, 2);
    u.Read("max_bytes", &c.upstream.max_bytes, 4096, kMax);
    u.ReadEnum<bool>("overflow", &c.upstream.drop_oldest,
                     {{"drop_oldest", true}, {"refuse_new", false}});
    u.Read("max_messages_per_s", &c.upstream.max_messages_per_s, 0, 1e9);
    u.Read("max_records_per_message", &c.upstream.max_records_per_message, 1, 10000);
    u.Read("tls_ca_file", &c.upstream.tls_ca_file);
    u.Read("tls_cert_file", &c.upstream.tls_cert_file);
    u.Read("tls_key_file", &c.upstream.tls_key_file);
    if (c.upstream.prefix.empty() || c.upstream.prefix.find_first_of("+#") != std::string::npos) {
      u.Fail("prefix", "must be a topic without wildcards");
    }
  }
  {
    YamlReader t = root.Map("twins");
    t.Read("enabled", &c.twins.enabled);
    t.Read("max_bytes", &c.twins.max_bytes, 256, 1 << 20);
    t.Read("max_depth", &c.twins.max_depth, 1, 32);
    t.Read("flush_interval_ms", &c.twins.flush_interval_ms, 100, 3600000);
    for (YamlReader l : t.List("limits")) {
      twin::SensorLimit limit;
      l.Read("sensor", &limit.sensor);
      if (limit.sensor.empty()) l.Fail("sensor", "is required");
      if (l.Has("above") && l.Has("below")) {
        l.Fail("below", "and above exclude each other: one limit per entry");
      } else if (!l.Has("above") && !l.Has("below")) {
        l.Fail("above", "or below is required (the value the sensor should not cross)");
      }
      limit.above = l.Has("above");
      l.Read(limit.above ? "above" : "below", &limit.value, -1e300, 1e300);
      c.twins.limits.push_back(std::move(limit));
    }
  }
  {
    YamlReader s = root.Map("security");
    s.ReadEnum<SecurityMode>("require", &c.security.require,
                             {{"none", SecurityMode::kNone},
                              {"signed", SecurityMode::kSigned},
                              {"sealed", SecurityMode::kSealed},
                              {"authenticated", SecurityMode::kAuthenticated}});
    s.Read("max_skew_s", &c.security.max_skew_s, 1, 10LL * 365 * 24 * 3600);
    s.Read("session_max_age_s", &c.security.session_max_age_s, 60, 10LL * 365 * 24 * 3600);
    s.Read("gateway_key", &c.security.gateway_key);
  }
  {
    YamlReader h = root.Map("http");
    h.Read("listen", &c.http.listen);
    h.Read("token", &c.http.token);
  }
  root.Map("log").ReadEnum("level", &c.log_level,
                           {"trace", "debug", "info", "warn", "error", "off"});
  if (absl::Status s = root.Finish(); !s.ok()) return s;
  return c;
}

}  // namespace

absl::StatusOr<GatewayConfig> ParseConfig(std::string_view yaml, const std::string& source_name) {
  auto root = YamlReader::LoadString(yaml, source_name);
  if (!root.ok()) return root.status();
  return Read(*root);
}

absl::StatusOr<GatewayConfig> LoadConfig(const std::string& path) {
  auto root = YamlReader::LoadFile(path);
  if (!root.ok()) return root.status();
  return Read(*root);
}

}  // namespace edgeway::gateway
