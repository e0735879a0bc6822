// The gateway against a real mosquitto and SQLite file.
#include "edgeway/gateway/gateway.h"

#include <cmath>

#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway::gateway {
namespace {

using std::chrono::milliseconds;

TEST(GatewayTest, WindowsOpenAtARestartCloseWithTheReadingsFromBeforeIt) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto config = ParseConfig("windows: [{name: 10s, type: tumbling, size_s: 10}]", "-");
  ASSERT_TRUE(config.ok()) << config.status();
  config->mqtt.broker = (*broker)->url();
  config->mqtt.client_id = "restart-test";
  config->store.path = dir.File("w.db");
  config->http.listen = "off";
  auto publisher = mqtt::Client::Start({.url = (*broker)->url()}, nullptr);
  ASSERT_TRUE(publisher.ok());
  ASSERT_TRUE((*publisher)->WaitConnected(milliseconds(5000)).ok());
  const int64_t base = (Clock::Real()->NowNs() / kNsPerSecond - 100) / 10 * 10;
  auto publish = [&](int offset, double value) {
    ASSERT_TRUE(
        (*publisher)
            ->Publish("devices/d1/telemetry",
                      fmt::format(R"({{"timestamp": {}, "temp": {}}})", base + offset, value), 1)
            .ok());
  };
  {
    auto gw = Gateway::Start({.config = *config});
    ASSERT_TRUE(gw.ok()) << gw.status();
    publish(1, 1);
    publish(5, 3);
    ASSERT_TRUE(testing::WaitUntil([&] { return (*gw)->stats().readings_stored == 2; },
                                   milliseconds(10000)));
    (*gw)->Stop();
    EXPECT_EQ((*gw)->stats().window_results_stored, 0);  // [base, base + 10) is still open
  }
  auto gw = Gateway::Start({.config = *config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  publish(7, 5);
  publish(12, 10);  // closes [base, base + 10)
  ASSERT_TRUE(testing::WaitUntil([&] { return (*gw)->stats().window_results_stored == 1; },
                                 milliseconds(10000)));
  (*gw)->Stop();
  auto store = store::Store::Open({.path = config->store.path, .read_only = true});
  ASSERT_TRUE(store.ok());
  auto windows = (*store)->WindowResults({});
  ASSERT_TRUE(windows.ok());
  ASSERT_EQ(windows->size(), 1u);
  EXPECT_EQ((*windows)[0].start_ns, base * kNsPerSecond);
  EXPECT_EQ((*windows)[0].count, 3u);  // two from before the restart
  EXPECT_DOUBLE_EQ((*windows)[0].mean, 3);
}

// A restart does not blind the detector: each key's state is saved at the stop and goes on at
// the start, so a spike right after it is an anomaly (a fresh ensemble would still be learning).
TEST(GatewayTest, TheDetectorGoesOnAfterARestart) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto config = ParseConfig("analytics: {detector: ensemble, ensemble_warmup: 50}\n", "-");
  ASSERT_TRUE(config.ok()) << config.status();
  config->mqtt.broker = (*broker)->url();
  config->mqtt.client_id = "state-test";
  config->store.path = dir.File("s.db");
  config->http.listen = "off";
  auto publisher = mqtt::Client::Start({.url = (*broker)->url()}, nullptr);
  ASSERT_TRUE(publisher.ok());
  ASSERT_TRUE((*publisher)->WaitConnected(milliseconds(5000)).ok());
  const int64_t base = Clock::Real()->NowNs() / kNsPerSecond - 1000;
  auto publish = [&](int i, double value) {
    ASSERT_TRUE((*publisher)
                    ->Publish("devices/d1/telemetry",
                              fmt::format(R"({{"timestamp": {}, "temp": {}}})", base + i, value), 1)
                    .ok());
  };
  {
    auto gw = Gateway::Start({.config = *config});
    ASSERT_TRUE(gw.ok()) << gw.status();
    for (int i = 0; i < 200; ++i) publish(i, 20 + 0.5 * std::sin(i));
    ASSERT_TRUE(testing::WaitUntil([&] { return (*gw)->stats().readings_stored == 200; },
                                   milliseconds(10000)));
    (*gw)->Stop();
    EXPECT_EQ((*gw)->stats().anomalies_detected, 0u);
  }
  auto gw = Gateway::Start({.config = *config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  publish(200, 60);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*gw)->stats().readings_stored == 1; }, milliseconds(10000)));
  (*gw)->Stop();
  EXPECT_EQ((*gw)->stats().anomalies_detected, 1u);
}

// MQTT at QoS 1 delivers at least once, and a device unsure whether the broker got a message
// sends it again: a reading whose device, sensor and event time the key just had is judged and
// windowed once, and stored once.
TEST(GatewayTest, ARedeliveredReadingCountsOnceInWindowsAndAnalytics) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto config = ParseConfig("windows: [{name: 10s, type: tumbling, size_s: 10}]", "-");
  ASSERT_TRUE(config.ok()) << config.status();
  config->mqtt.broker = (*broker)->url();
  config->mqtt.client_id = "duplicate-test";
  config->store.path = dir.File("d.db");
  config->http.listen = "off";
  auto publisher = mqtt::Client::Start({.url = (*broker)->url()}, nullptr);
  ASSERT_TRUE(publisher.ok());
  ASSERT_TRUE((*publisher)->WaitConnected(milliseconds(5000)).ok());
  auto gw = Gateway::Start({.config = *config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  const int64_t base = (Clock::Real()->NowNs() / kNsPerSecond - 100) / 10 * 10;
  int published = 0;
  for (int offset : {1, 2, 2, 3, 3, 3, 5, 12}) {  // 2 and 3 again: redeliveries
    ASSERT_TRUE(
        (*publisher)
            ->Publish("devices/d1/telemetry",
                      fmt::format(R"({{"timestamp": {}, "temp": {}}})", base + offset, offset), 1)
            .ok());
    ++published;
  }
  ASSERT_TRUE(testing::WaitUntil([&] { return (*gw)->stats().window_results_stored == 1; },
                                 milliseconds(10000)));
  (*gw)->Stop();
  EXPECT_EQ((*gw)->stats().messages_received, static_cast<uint64_t>(published));
  EXPECT_EQ((*gw)->stats().readings_stored, 5);
  EXPECT_EQ((*gw)->stats().readings_duplicate, 3);
  auto store = store::Store::Open({.path = config->store.path, .read_only = true});
  ASSERT_TRUE(store.ok());
  auto windows = (*store)->WindowResults({});
  ASSERT_TRUE(windows.ok());
  ASSERT_EQ(windows->size(), 1u);
  EXPECT_EQ((*windows)[0].count, 4u);  // 1, 2, 3 and 5
  EXPECT_DOUBLE_EQ((*windows)[0].mean, 11 / 4.0);
}

}  // namespace
}  // namespace edgeway::gateway
