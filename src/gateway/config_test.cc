#include "edgeway/gateway/config.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace edgeway::gateway {
namespace {

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
  EXPECT_EQ(example->http.listen, defaults->http.listen);
  EXPECT_EQ(example->analytics.detector, defaults->analytics.detector);
  EXPECT_DOUBLE_EQ(example->analytics.anomaly_threshold, defaults->analytics.anomaly_threshold);
  EXPECT_EQ(example->http.token, defaults->http.token);
  EXPECT_EQ(example->store.path, defaults->store.path);
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto c = LoadConfig("/nonexistent/edgeway.yaml");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("/nonexistent/edgeway.yaml"));
}

}  // namespace
}  // namespace edgeway::gateway
