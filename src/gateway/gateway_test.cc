// The gateway against a real mosquitto and SQLite file.
#include "edgeway/gateway/gateway.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <type_traits>

#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "testing/broker_test.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway::gateway {
namespace {

using std::chrono::milliseconds;

// A real mosquitto, a publisher connected to it, and gateway configs on a fresh store file.
class GatewayTest : public testing::BrokerTest {
 protected:
  GatewayConfig Config(const char* yaml) {
    auto config = ParseConfig(yaml, "-");
    EXPECT_TRUE(config.ok()) << config.status();
    config->mqtt.broker = broker_->url();
    config->mqtt.client_id = "gateway-test";
    config->store.path = dir_.File("gateway.db");
    config->http.listen = "off";
    return *config;
  }

  // Device d1's temperature `value` at `seconds` since the epoch.
  void Publish(int64_t seconds, double value) {
    ASSERT_TRUE(publisher_
                    ->Publish("devices/d1/telemetry",
                              fmt::format(R"({{"timestamp": {}, "temp": {}}})", seconds, value), 1)
                    .ok());
  }

  // Whether the gateway's counter `field` reaches `n` within 10 s.
  template <typename T>
  static bool WaitFor(const Gateway& gw, T GatewayStats::*field, std::type_identity_t<T> n) {
    return testing::WaitUntil([&] { return gw.stats().*field == n; }, milliseconds(10000));
  }

  // Keys whose analytics state the store holds.
  static size_t SavedKeys(const GatewayConfig& config) {
    auto store = store::Store::Open({.path = config.store.path, .read_only = true});
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return 0;
    size_t keys = 0;
    absl::Status read = (*store)->ForEachAnalyticsState([&](const SavedKeyState&) { ++keys; });
    EXPECT_TRUE(read.ok()) << read;
    return keys;
  }

  std::vector<WindowResult> StoredWindows(const GatewayConfig& config) {
    auto store = store::Store::Open({.path = config.store.path, .read_only = true});
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return {};
    auto windows = (*store)->WindowResults({});
    EXPECT_TRUE(windows.ok()) << windows.status();
    return windows.ok() ? *windows : std::vector<WindowResult>();
  }

  testing::TempDir dir_;
  // A 10 s window's start, 100 s ago.
  const int64_t base_ = (Clock::Real()->NowNs() / kNsPerSecond - 100) / 10 * 10;
};

TEST_F(GatewayTest, WindowsOpenAtARestartCloseWithTheReadingsFromBeforeIt) {
  const GatewayConfig config = Config("windows: [{name: 10s, type: tumbling, size_s: 10}]");
  {
    auto gw = Gateway::Start({.config = config});
    ASSERT_TRUE(gw.ok()) << gw.status();
    Publish(base_ + 1, 1);
    Publish(base_ + 5, 3);
    ASSERT_TRUE(WaitFor(**gw, &GatewayStats::readings_stored, 2));
    (*gw)->Stop();
    EXPECT_EQ((*gw)->stats().window_results_stored, 0);  // [base, base + 10) is still open
  }
  auto gw = Gateway::Start({.config = config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  Publish(base_ + 7, 5);
  Publish(base_ + 12, 10);  // closes [base, base + 10)
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::window_results_stored, 1));
  (*gw)->Stop();
  std::vector<WindowResult> windows = StoredWindows(config);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].start_ns, base_ * kNsPerSecond);
  EXPECT_EQ(windows[0].count, 3u);  // two from before the restart
  EXPECT_DOUBLE_EQ(windows[0].mean, 3);
}

// A session open at a stop is rebuilt whole, from the start of its max duration's period, not
// only from the last gap before the stop.
TEST_F(GatewayTest, ASessionOpenAtARestartClosesWithAllItsReadings) {
  const GatewayConfig config =
      Config("windows: [{name: s, type: session, gap_s: 5, max_duration_s: 20}]");
  const int64_t period = base_ / 20 * 20;
  {
    auto gw = Gateway::Start({.config = config});
    ASSERT_TRUE(gw.ok()) << gw.status();
    for (int64_t t : {1, 4, 7, 10}) Publish(period + t, static_cast<double>(t));
    ASSERT_TRUE(WaitFor(**gw, &GatewayStats::readings_stored, 4));
    (*gw)->Stop();
    EXPECT_EQ((*gw)->stats().window_results_stored, 0);
  }
  auto gw = Gateway::Start({.config = config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  Publish(period + 13, 13);
  Publish(period + 16, 16);
  Publish(period + 25, 25);  // the watermark passes the period's end, which cut the session
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::window_results_stored, 1));
  (*gw)->Stop();
  std::vector<WindowResult> windows = StoredWindows(config);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].start_ns, (period + 1) * kNsPerSecond);
  EXPECT_EQ(windows[0].end_ns, (period + 20) * kNsPerSecond);
  EXPECT_EQ(windows[0].count, 6u);  // four from before the restart
  EXPECT_DOUBLE_EQ(windows[0].mean, 51.0 / 6);
}

// A device that stops sending still gets the result of its last window, once it has been silent
// for the window's idle timeout.
TEST_F(GatewayTest, TheLastWindowOfADeviceThatFellSilentCloses) {
  const GatewayConfig config =
      Config("windows: [{name: 10s, type: tumbling, size_s: 10, idle_timeout_s: 1}]");
  auto gw = Gateway::Start({.config = config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  for (int s : {7, 8, 9}) Publish(base_ + s, s);  // silent for a second more, and it closes
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::window_results_stored, 1));
  (*gw)->Stop();
  std::vector<WindowResult> windows = StoredWindows(config);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].start_ns, base_ * kNsPerSecond);
  EXPECT_EQ(windows[0].count, 3u);
  EXPECT_DOUBLE_EQ(windows[0].mean, 8);
}

// A device that was offline sends what it queued when it is back: its windows get those readings,
// late for nothing, though the window it fell silent in was closed for the silence (and is
// stored again, revised).
TEST_F(GatewayTest, ADeviceBackFromOfflineFillsItsWindowsWithItsBacklog) {
  const GatewayConfig config =
      Config("windows: [{name: 10s, type: tumbling, size_s: 10, idle_timeout_s: 1}]");
  auto gw = Gateway::Start({.config = config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  for (int s : {7, 8}) Publish(base_ + s, s);
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::window_results_stored, 1));  // closed for the silence
  for (int s : {9, 12, 15, 21}) Publish(base_ + s, s);                  // the backlog
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::window_results_stored, 3));
  (*gw)->Stop();
  EXPECT_EQ((*gw)->stats().late_readings, 0u);
  std::vector<WindowResult> windows = StoredWindows(config);
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_EQ(windows[0].start_ns, base_ * kNsPerSecond);
  EXPECT_EQ(windows[0].count, 3u);  // 7, 8 and 9
  EXPECT_EQ(windows[0].revision, 1u);
  EXPECT_EQ(windows[1].start_ns, (base_ + 10) * kNsPerSecond);
  EXPECT_EQ(windows[1].count, 2u);  // 12 and 15
}

// A device that fell silent for analytics.forget_after_s is forgotten: its key's state is dropped,
// and so is its snapshot in the store.
TEST_F(GatewayTest, ADeviceSilentForTooLongIsForgotten) {
  const GatewayConfig config = Config("analytics: {forget_after_s: 2, save_interval_s: 0.1}");
  auto gw = Gateway::Start({.config = config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  Publish(base_, 1);
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::analytics_states_saved, 1));
  EXPECT_EQ(SavedKeys(config), 1u);
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::keys_forgotten, 1));
  EXPECT_EQ((*gw)->stats().keys, 0u);
  EXPECT_EQ((*gw)->Summary()["keys_forgotten"], 1);
  EXPECT_TRUE(testing::WaitUntil([&] { return SavedKeys(config) == 0; }, milliseconds(10000)));
}

// analytics.per_sensor picks the detector of a sensor's readings: the jump that the default
// 3-sigma rule reports is, for a sensor given the ensemble, still in the ensemble's warmup.
TEST_F(GatewayTest, EachSensorIsJudgedByTheDetectorItsConfigNames) {
  for (const char* detector : {"sigma", "ensemble"}) {
    SCOPED_TRACE(detector);
    auto gw =
        Gateway::Start({.config = Config(fmt::format("analytics: {{per_sensor: [{{sensors: [temp], "
                                                     "detector: {}}}]}}",
                                                     detector)
                                             .c_str())});
    ASSERT_TRUE(gw.ok()) << gw.status();
    for (int i = 0; i < 30; ++i) Publish(base_ + i, 20 + i % 2);
    Publish(base_ + 30, 40);
    ASSERT_TRUE(WaitFor(**gw, &GatewayStats::readings_stored, 31));
    (*gw)->Stop();
    EXPECT_EQ((*gw)->stats().anomalies_detected, std::string(detector) == "sigma" ? 1u : 0u);
    std::filesystem::remove(dir_.File("gateway.db"));
  }
}

// A reading outside its sensor's plausible range (ingest.plausible) is refused and counted; the
// other readings of its message, and the sensors with no range, go on to the store and the
// analytics, so that a glitch neither stretches a detector's range nor is lost silently.
TEST_F(GatewayTest, AnImplausibleReadingIsRefusedAndTheRestOfItsMessageKept) {
  auto gw = Gateway::Start(
      {.config = Config("ingest: {plausible: [{sensors: [temp], min: -55, max: 125}]}")});
  ASSERT_TRUE(gw.ok()) << gw.status();
  int64_t t = base_;
  for (double temp : {20.0, 85.5, 125.0, 1000.0, -60.0}) {
    ASSERT_TRUE(
        publisher_
            ->Publish(
                "devices/d1/telemetry",
                fmt::format(R"({{"timestamp": {}, "temp": {}, "humidity": 1000}})", t++, temp), 1)
            .ok());
  }
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::readings_stored, 8));
  (*gw)->Stop();
  const GatewayStats s = (*gw)->stats();
  EXPECT_EQ(s.rejected[static_cast<size_t>(RejectReason::kImplausible)], 2u);
  EXPECT_EQ(s.messages_rejected, 0u);  // readings, not messages
  EXPECT_EQ(s.readings_rejected, 2u);
  EXPECT_EQ(s.readings_received, 10u);
  auto store = store::Store::Open({.path = dir_.File("gateway.db"), .read_only = true});
  ASSERT_TRUE(store.ok()) << store.status();
  auto temps = (*store)->Readings({.device_id = "d1", .sensor = "temp"});
  ASSERT_TRUE(temps.ok()) << temps.status();
  std::vector<double> values;
  for (const Reading& r : *temps) values.push_back(r.value);
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<double>{20, 85.5, 125}));
}

// A restart does not blind the detector: each key's state is saved at the stop and goes on at
// the start, so a spike right after it is an anomaly (a fresh ensemble would still be learning).
TEST_F(GatewayTest, TheDetectorGoesOnAfterARestart) {
  const GatewayConfig config = Config("analytics: {detector: ensemble, ensemble_warmup: 50}");
  const int64_t start = base_ - 1000;
  {
    auto gw = Gateway::Start({.config = config});
    ASSERT_TRUE(gw.ok()) << gw.status();
    for (int i = 0; i < 200; ++i) Publish(start + i, 20 + 0.5 * std::sin(i));
    ASSERT_TRUE(WaitFor(**gw, &GatewayStats::readings_stored, 200));
    (*gw)->Stop();
    EXPECT_EQ((*gw)->stats().anomalies_detected, 0u);
  }
  // A start that fails keeps the state for the next.
  GatewayConfig broken = config;
  broken.mqtt.broker = "udp://nowhere";
  EXPECT_FALSE(Gateway::Start({.config = broken}).ok());
  auto gw = Gateway::Start({.config = config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  EXPECT_EQ((*gw)->stats().keys, 1u);  // restored before any reading
  Publish(start + 200, 60);
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::readings_stored, 1));
  (*gw)->Stop();
  EXPECT_EQ((*gw)->stats().anomalies_detected, 1u);
}

// The state a start took up stays in the store while snapshots are on (a crash before the next
// one goes on from it too); without snapshots it is cleared, so that a crash sends the keys back
// to learning rather than to the state of a stop long before.
TEST_F(GatewayTest, TakenUpStateIsClearedOnlyWithoutSnapshots) {
  for (const char* interval : {"0", "900"}) {
    SCOPED_TRACE(interval);
    const GatewayConfig config =
        Config(fmt::format("analytics: {{save_interval_s: {}}}", interval).c_str());
    {
      auto gw = Gateway::Start({.config = config});
      ASSERT_TRUE(gw.ok()) << gw.status();
      Publish(base_, 1);
      ASSERT_TRUE(WaitFor(**gw, &GatewayStats::readings_stored, 1));
    }
    EXPECT_EQ(SavedKeys(config), 1u);  // at the stop
    auto gw = Gateway::Start({.config = config});
    ASSERT_TRUE(gw.ok()) << gw.status();
    EXPECT_EQ(SavedKeys(config), std::string(interval) == "0" ? 0u : 1u);
    (*gw)->Stop();
    EXPECT_EQ(SavedKeys(config), 1u);
    std::filesystem::remove(config.store.path);
  }
}

// MQTT at QoS 1 delivers at least once, and a device unsure whether the broker got a message
// sends it again: a reading whose device, sensor and event time the key just had is judged and
// windowed once, and stored once.
TEST_F(GatewayTest, ARedeliveredReadingCountsOnceInWindowsAndAnalytics) {
  const GatewayConfig config = Config("windows: [{name: 10s, type: tumbling, size_s: 10}]");
  auto gw = Gateway::Start({.config = config});
  ASSERT_TRUE(gw.ok()) << gw.status();
  uint64_t published = 0;
  for (int offset : {1, 2, 2, 3, 3, 3, 5, 12}) {  // 2 and 3 again: redeliveries
    Publish(base_ + offset, offset);
    ++published;
  }
  ASSERT_TRUE(WaitFor(**gw, &GatewayStats::window_results_stored, 1));
  (*gw)->Stop();
  EXPECT_EQ((*gw)->stats().messages_received, published);
  EXPECT_EQ((*gw)->stats().readings_stored, 5);
  EXPECT_EQ((*gw)->stats().readings_duplicate, 3);
  std::vector<WindowResult> windows = StoredWindows(config);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0].count, 4u);  // 1, 2, 3 and 5
  EXPECT_DOUBLE_EQ(windows[0].mean, 11 / 4.0);
}

}  // namespace
}  // namespace edgeway::gateway
