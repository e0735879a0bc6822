#include "edgeway/gateway/config.h"

#include <fstream>
#include <limits>

#include "edgeway/core/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace edgeway::gateway {
namespace {

// The error ParseConfig gives for `yaml`, read as a file called `name`.
std::string ConfigError(std::string_view yaml, const char* name = "a.yaml") {
  return std::string(ParseConfig(yaml, name).status().message());
}

using ::testing::HasSubstr;

TEST(ConfigTest, EmptyConfigGivesDefaults) {
  auto c = ParseConfig("", "edgeway.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mqtt.broker, "");
  EXPECT_EQ(c->mqtt.topics, (std::vector<std::string>{"sensors/#", "devices/+/telemetry"}));
  EXPECT_EQ(c->mqtt.qos, 1);
  EXPECT_EQ(c->ingest.decoder.max_payload_bytes, 64u * 1024);
  EXPECT_EQ(c->analytics.window, 50u);
  EXPECT_EQ(c->store.path, "edgeway.db");
}

TEST(ConfigTest, ReadsEveryMajorSection) {
  auto c = ParseConfig(R"(
mqtt:
  broker: tcp://10.0.0.2:1883
  topics: [a/#]
ingest:
  max_payload_bytes: 1024
  overflow: drop
  min_plausible_time: 2020-01-01T00:00:00Z
analytics:
  detector: ensemble
  anomaly_threshold: 0.95
  ensemble_warmup: 1000
  stuck_factor: 3
  stuck_min_run: 50
  window: 100
  sigma: 2.5
  shards: 3
store:
  path: /var/lib/edgeway/x.db
  retention_hours: 24
log:
  level: debug
)",
                       "edgeway.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mqtt.broker, "tcp://10.0.0.2:1883");
  EXPECT_EQ(c->ingest.decoder.max_payload_bytes, 1024u);
  EXPECT_EQ(c->ingest.overflow, OverflowPolicy::kDrop);
  EXPECT_EQ(c->ingest.decoder.min_plausible_ns, 1'577'836'800LL * 1'000'000'000);
  EXPECT_EQ(c->analytics.window, 100u);
  EXPECT_DOUBLE_EQ(c->analytics.sigma, 2.5);
  EXPECT_EQ(c->analytics.detector, stream::DetectorKind::kEnsemble);
  EXPECT_DOUBLE_EQ(c->analytics.anomaly_threshold, 0.95);
  EXPECT_EQ(c->analytics.ensemble_warmup, 1000u);
  EXPECT_DOUBLE_EQ(c->analytics.stuck_factor, 3);
  EXPECT_EQ(c->analytics.stuck_min_run, 50u);
  EXPECT_EQ(c->shards, 3);
  EXPECT_EQ(c->store.retention_hours, 24);
  EXPECT_EQ(c->log_level, "debug");
}

TEST(ConfigTest, ErrorsNameLineAndKey) {
  auto c = ParseConfig("analytics:\n  window: 50\n  min_samples: 80\n", "e.yaml");
  EXPECT_EQ(c.status().message(), "e.yaml:3: analytics.min_samples must be <= window (50)");
  auto typo = ParseConfig("store:\n  paht: x.db\n", "e.yaml");
  EXPECT_EQ(typo.status().message(), "e.yaml:2: unknown key store.paht");
  auto time = ParseConfig("ingest:\n  min_plausible_time: yesterday\n", "e.yaml");
  EXPECT_THAT(std::string(time.status().message()),
              HasSubstr("e.yaml:2: ingest.min_plausible_time must be an RFC 3339 time"));
}

TEST(ConfigTest, ExampleConfigInTheRepoParsesToTheDefaults) {
  auto example = LoadConfig(std::string(EDGEWAY_SOURCE_DIR) + "/edgeway.example.yaml");
  ASSERT_TRUE(example.ok()) << example.status();
  auto defaults = ParseConfig("", "-");
  EXPECT_EQ(example->mqtt.topics, defaults->mqtt.topics);
  EXPECT_EQ(example->mqtt.session_expiry_s, defaults->mqtt.session_expiry_s);
  EXPECT_EQ(example->ingest.decoder.max_payload_bytes, defaults->ingest.decoder.max_payload_bytes);
  EXPECT_EQ(example->ingest.decoder.min_plausible_ns, defaults->ingest.decoder.min_plausible_ns);
  EXPECT_EQ(example->ingest.decoder.max_future_skew_ns,
            defaults->ingest.decoder.max_future_skew_ns);
  EXPECT_EQ(example->analytics.window, defaults->analytics.window);
  EXPECT_EQ(example->analytics.min_samples, defaults->analytics.min_samples);
  EXPECT_DOUBLE_EQ(example->analytics.sigma, defaults->analytics.sigma);
  EXPECT_DOUBLE_EQ(example->analytics.holt_alpha, defaults->analytics.holt_alpha);
  EXPECT_EQ(example->store.retention_hours, defaults->store.retention_hours);
  EXPECT_EQ(example->store.group_commit_ms, defaults->store.group_commit_ms);
  EXPECT_EQ(example->shards, defaults->shards);
  EXPECT_DOUBLE_EQ(example->analytics_save_interval_s, defaults->analytics_save_interval_s);
  EXPECT_DOUBLE_EQ(example->analytics_forget_after_s, defaults->analytics_forget_after_s);
  EXPECT_EQ(example->http.listen, defaults->http.listen);
  EXPECT_EQ(example->analytics.detector, defaults->analytics.detector);
  EXPECT_DOUBLE_EQ(example->analytics.anomaly_threshold, defaults->analytics.anomaly_threshold);
  EXPECT_EQ(example->analytics.ensemble_warmup, defaults->analytics.ensemble_warmup);
  EXPECT_DOUBLE_EQ(example->analytics.stuck_factor, defaults->analytics.stuck_factor);
  EXPECT_EQ(example->analytics.stuck_min_run, defaults->analytics.stuck_min_run);
  EXPECT_EQ(example->http.token, defaults->http.token);
  EXPECT_EQ(example->store.path, defaults->store.path);
  EXPECT_TRUE(example->windows.empty());
  EXPECT_EQ(example->upstream.url, defaults->upstream.url);
  EXPECT_EQ(example->upstream.prefix, defaults->upstream.prefix);
  EXPECT_EQ(example->upstream.readings, defaults->upstream.readings);
  EXPECT_EQ(example->upstream.insights, defaults->upstream.insights);
  EXPECT_EQ(example->upstream.max_bytes, defaults->upstream.max_bytes);
  EXPECT_EQ(example->upstream.drop_oldest, defaults->upstream.drop_oldest);
  EXPECT_EQ(example->upstream.max_records_per_message, defaults->upstream.max_records_per_message);
}

TEST(ConfigTest, ReadsTwinLimits) {
  auto c = ParseConfig(
      "twins:\n  limits:\n    - {sensor: temperature, above: 80}\n"
      "    - {sensor: battery, below: 3.3}\n",
      "edgeway.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->twins.limits.size(), 2u);
  EXPECT_TRUE(c->twins.limits[0].above);
  EXPECT_DOUBLE_EQ(c->twins.limits[0].value, 80);
  EXPECT_FALSE(c->twins.limits[1].above);
  EXPECT_EQ(c->twins.limits[1].sensor, "battery");
  auto both = ParseConfig("twins:\n  limits:\n    - {sensor: t, above: 1, below: 0}\n", "t.yaml");
  EXPECT_EQ(both.status().message(),
            "t.yaml:3: twins.limits[0].below and above exclude each other: one limit per entry");
  EXPECT_TRUE(ParseConfig("", "-")->twins.enabled);
}

TEST(ConfigTest, ReadsUpstream) {
  auto c = ParseConfig(R"(
upstream:
  url: tcp://cloud:1883
  forward: [readings, windows]
  overflow: refuse_new
  max_messages_per_s: 50
)",
                       "edgeway.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->upstream.url, "tcp://cloud:1883");
  EXPECT_TRUE(c->upstream.readings);
  EXPECT_FALSE(c->upstream.insights);
  EXPECT_TRUE(c->upstream.windows);
  EXPECT_FALSE(c->upstream.drop_oldest);
  EXPECT_DOUBLE_EQ(c->upstream.max_messages_per_s, 50);
  auto bad = ParseConfig("upstream:\n  forward: [readings, alarms]\n", "u.yaml");
  EXPECT_EQ(bad.status().message(),
            "u.yaml:2: upstream.forward lists readings, insights or windows, got 'alarms'");
  auto qos = ParseConfig("upstream:\n  qos: 0\n", "u.yaml");
  EXPECT_EQ(qos.status().message(), "u.yaml:2: upstream.qos must be in [1, 2], got 0");
}

TEST(ConfigTest, ExampleWindowsInTheCommentsParse) {
  std::ifstream in(std::string(EDGEWAY_SOURCE_DIR) + "/edgeway.example.yaml");
  std::string line, yaml;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "# windows:") inside = true;
    if (line == "windows: []") break;
    if (inside) yaml += line.substr(std::min<size_t>(2, line.size())) + "\n";
  }
  auto c = ParseConfig(yaml, "example windows");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->windows.size(), 3u);
}

TEST(ConfigTest, PerSensorAnalyticsChangeWhatTheyNameOfTheDefaults) {
  auto c = ParseConfig(R"(
analytics:
  sigma: 2.5
  per_sensor:
    - sensors: [vibration, current]
      detector: ensemble
      anomaly_threshold: 0.6
    - sensors: [door]
      window: 20
      min_samples: 5
)",
                       "edgeway.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->analytics_per_sensor.size(), 2u);
  const stream::SensorAnalytics& e = c->analytics_per_sensor[0];
  EXPECT_EQ(e.sensors, (std::vector<std::string>{"vibration", "current"}));
  EXPECT_EQ(e.options.detector, stream::DetectorKind::kEnsemble);
  EXPECT_DOUBLE_EQ(e.options.anomaly_threshold, 0.6);
  EXPECT_DOUBLE_EQ(e.options.sigma, 2.5);  // from the defaults above
  EXPECT_EQ(e.options.window, c->analytics.window);
  const stream::SensorAnalytics& d = c->analytics_per_sensor[1];
  EXPECT_EQ(d.options.detector, stream::DetectorKind::kSigma);
  EXPECT_EQ(d.options.window, 20u);
  EXPECT_EQ(d.options.min_samples, 5u);

  EXPECT_EQ(ConfigError("analytics:\n  per_sensor:\n    - {detector: ensemble}\n"),
            "a.yaml:3: analytics.per_sensor[0].sensors must name at least one sensor");
  EXPECT_EQ(
      ConfigError("analytics:\n  per_sensor:\n    - {sensors: [a]}\n    - {sensors: [b, a]}\n"),
      "a.yaml:4: analytics.per_sensor[1].sensors 'a' is listed by an earlier entry");
  EXPECT_THAT(ConfigError("analytics:\n  per_sensor:\n    - sensors: [a]\n      shards: 2\n"),
              HasSubstr("a.yaml:4: unknown key analytics.per_sensor[0].shards"));
  EXPECT_THAT(ConfigError("analytics:\n  per_sensor:\n    - sensors: [a]\n      window: 5\n"),
              HasSubstr("a.yaml:3: analytics.per_sensor[0].min_samples must be <= window (5)"));
}

TEST(ConfigTest, ReadsPlausibleRangesOfSensors) {
  auto c = ParseConfig(R"(
ingest:
  plausible:
    - sensors: [temperature]
      min: -55
      max: 125
    - sensors: [humidity, level]
      min: 0
)",
                       "edgeway.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->ingest.plausible.size(), 2u);
  EXPECT_EQ(c->ingest.plausible[0].sensors, (std::vector<std::string>{"temperature"}));
  EXPECT_DOUBLE_EQ(c->ingest.plausible[0].min, -55);
  EXPECT_DOUBLE_EQ(c->ingest.plausible[0].max, 125);
  EXPECT_DOUBLE_EQ(c->ingest.plausible[1].min, 0);
  EXPECT_EQ(c->ingest.plausible[1].max, std::numeric_limits<double>::infinity());

  EXPECT_EQ(ConfigError("ingest:\n  plausible:\n    - {min: 0}\n"),
            "a.yaml:3: ingest.plausible[0].sensors must name at least one sensor");
  EXPECT_EQ(ConfigError("ingest:\n  plausible:\n    - {sensors: [t]}\n"),
            "a.yaml:3: ingest.plausible[0].sensors a plausible range needs a min, a max or both");
  EXPECT_EQ(ConfigError("ingest:\n  plausible:\n    - sensors: [t]\n      min: 5\n      max: 5\n"),
            "a.yaml:5: ingest.plausible[0].max must be above min (5)");
  EXPECT_EQ(
      ConfigError(
          "ingest:\n  plausible:\n    - {sensors: [a], min: 0}\n    - {sensors: [a], max: 1}\n"),
      "a.yaml:4: ingest.plausible[1].sensors 'a' is listed by an earlier entry");
}

TEST(ConfigTest, ReadsWindowDeclarations) {
  auto c = ParseConfig(R"(
windows:
  - name: temperature_1m
    type: tumbling
    size_s: 60
    watermark_delay_s: 5
    allowed_lateness_s: 30
    sensors: [temperature]
    percentiles: [50, 95]
  - name: trailing_5m
    type: sliding
    size_s: 300
    slide_s: 0.5
    idle_timeout_s: 0
  - name: bursts
    type: session
    gap_s: 30
    idle_timeout_s: 600
    percentiles: []
)",
                       "edgeway.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->windows.size(), 3u);
  const stream::WindowSpec& t = c->windows[0];
  EXPECT_EQ(t.name, "temperature_1m");
  EXPECT_EQ(t.kind, stream::WindowKind::kTumbling);
  EXPECT_EQ(t.size_ns, 60 * kNsPerSecond);
  EXPECT_EQ(t.watermark_delay_ns, 5 * kNsPerSecond);
  EXPECT_EQ(t.allowed_lateness_ns, 30 * kNsPerSecond);
  EXPECT_EQ(t.sensors, std::vector<std::string>{"temperature"});
  EXPECT_EQ(t.percentiles, (std::vector<double>{50, 95}));
  EXPECT_EQ(t.idle_timeout_ns, 65 * kNsPerSecond);  // by default, size_s + watermark_delay_s
  EXPECT_EQ(c->windows[1].idle_timeout_ns, 0);
  EXPECT_EQ(c->windows[2].idle_timeout_ns, 600 * kNsPerSecond);
  EXPECT_EQ(c->windows[1].kind, stream::WindowKind::kSliding);
  EXPECT_EQ(c->windows[1].slide_ns, kNsPerSecond / 2);
  EXPECT_EQ(c->windows[1].percentiles, (std::vector<double>{50, 90, 99}));
  EXPECT_EQ(c->windows[2].kind, stream::WindowKind::kSession);
  EXPECT_EQ(c->windows[2].gap_ns, 30 * kNsPerSecond);
  EXPECT_EQ(c->windows[2].max_duration_ns, 3600 * kNsPerSecond);  // by default
  EXPECT_EQ(t.max_duration_ns, 0);
  EXPECT_TRUE(c->windows[2].percentiles.empty());  // none: no values kept
}

TEST(ConfigTest, WindowErrorsPointAtTheLine) {
  auto error = [](std::string_view yaml) { return ConfigError(yaml, "w.yaml"); };
  EXPECT_EQ(error("windows:\n  - name: a\n    type: hopping\n    size_s: 1\n"),
            "w.yaml:3: windows[0].type must be one of tumbling, sliding, session, got 'hopping'");
  EXPECT_EQ(error("windows:\n  - name: a\n    type: tumbling\n"),
            "w.yaml:2: windows[0].size_s is required for tumbling windows");
  EXPECT_EQ(
      error("windows:\n  - name: a\n    type: session\n    gap_s: 5\n    size_s: 60\n"),
      "w.yaml:5: windows[0].size_s applies to tumbling and sliding windows only, not session");
  EXPECT_EQ(
      error("windows:\n  - name: a\n    type: session\n    gap_s: 5\n    max_duration_s: 5\n"),
      "w.yaml:5: windows[0].max_duration_s must be longer than gap_s (or 0: sessions "
      "unbounded)");
  EXPECT_EQ(error("windows:\n  - name: a\n    type: session\n    gap_s: 7200\n"),
            "w.yaml:4: windows[0].gap_s must be shorter than max_duration_s (3600 by default); "
            "set max_duration_s longer, or 0 for unbounded sessions");
  EXPECT_EQ(error("windows:\n  - name: a\n    type: tumbling\n    size_s: 5\n"
                  "    max_duration_s: 60\n"),
            "w.yaml:5: windows[0].max_duration_s applies to session windows only, not tumbling");
  EXPECT_EQ(error("windows:\n  - name: a\n    type: sliding\n    size_s: 60\n    slide_s: 7\n"),
            "w.yaml:5: windows[0].slide_s must divide size_s (a window then starts every slide_s)");
  EXPECT_EQ(error("windows:\n  - {name: a, type: tumbling, size_s: 1}\n"
                  "  - {name: a, type: tumbling, size_s: 2}\n"),
            "w.yaml:3: windows[1].name 'a' is declared twice");
  EXPECT_EQ(error("windows:\n  - name: a\n    type: tumbling\n    size_s: -1\n"),
            "w.yaml:4: windows[0].size_s must be in [0.001, 31622400], got -1");
  EXPECT_EQ(
      error("windows:\n  - name: a b\n    type: tumbling\n    size_s: 1\n"),
      "w.yaml:2: windows[0].name must be 1 to 64 letters, digits, '_', '-' or '.', got 'a b'");
  EXPECT_EQ(error("windows:\n  - name: a\n    type: tumbling\n    size_s: 1\n"
                  "    percentiles: [50, 101]\n"),
            "w.yaml:5: windows[0].percentiles values must be in [0, 100], got 101");
  EXPECT_EQ(error("windows:\n  - name: a\n    type: tumbling\n    size_s: 1\n    sizes: 2\n"),
            "w.yaml:5: unknown key windows[0].sizes");
  EXPECT_EQ(error("windows: tumbling\n"), "w.yaml:1: windows must be a list");
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto c = LoadConfig("/nonexistent/edgeway.yaml");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("/nonexistent/edgeway.yaml"));
}

}  // namespace
}  // namespace edgeway::gateway
