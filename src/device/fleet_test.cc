#include "edgeway/device/fleet.h"

#include <cmath>
#include <mutex>

#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/telemetry/decoder.h"
#include "gtest/gtest.h"

namespace edgeway::device {
namespace {

Insight Anomaly(std::string device, std::string sensor, int64_t ts) {
  Insight in;
  in.device_id = std::move(device);
  in.sensor = std::move(sensor);
  in.ts_ns = ts;
  in.kind = Insight::Kind::kAnomaly;
  return in;
}

TEST(CountDetectedTest, MatchesWithinToleranceAndLatenessOnce) {
  std::vector<InjectedAnomaly> injected = {
      {"d1", "temperature", 1000, 0}, {"d1", "temperature", 5000, 0}, {"d2", "battery", 1000, 0}};
  std::vector<Insight> insights = {
      Anomaly("d1", "temperature", 1040),  // within 50 of the first
      Anomaly("d1", "temperature", 5900),  // 900 late: within the allowed lateness
      Anomaly("d2", "humidity", 1000),     // another sensor
  };
  EXPECT_EQ(CountDetected(injected, insights, 50, 1000), 2u);
  EXPECT_EQ(CountDetected(injected, insights, 50, 0), 1u);
  // One insight cannot vouch for two injected anomalies.
  std::vector<InjectedAnomaly> twice = {{"d1", "temperature", 1000, 0},
                                        {"d1", "temperature", 1010, 0}};
  EXPECT_EQ(CountDetected(twice, {Anomaly("d1", "temperature", 1005)}, 50, 0), 1u);
  Insight trend = Anomaly("d1", "temperature", 1000);
  trend.kind = Insight::Kind::kTrend;
  EXPECT_EQ(CountDetected(injected, {trend}, 50, 0), 0u);
  // A stuck sensor is found by a stuck insight only.
  std::vector<InjectedAnomaly> stuck = {{"d1", "humidity", 1000, 40, Insight::Kind::kStuck}};
  Insight found = Anomaly("d1", "humidity", 1900);
  EXPECT_EQ(CountDetected(stuck, {found}, 50, 1000), 0u);
  found.kind = Insight::Kind::kStuck;
  EXPECT_EQ(CountDetected(stuck, {found}, 50, 1000), 1u);
}

TEST(FleetTest, PublishesEveryFormatAndDecodableReadings) {
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  std::mutex mu;
  std::vector<Reading> readings;
  size_t senml = 0, pydict = 0, json = 0, rejected = 0;
  Decoder decoder;
  auto sub = mqtt::Client::Start(
      {.url = (*broker)->url(), .subscribe_topics = {"#"}},
      [&](std::string_view topic, std::string_view payload, int) {
        std::lock_guard lock(mu);
        if (payload.starts_with("[")) {
          ++senml;
        } else if (payload.starts_with("{'")) {
          ++pydict;
        } else {
          ++json;
        }
        if (!decoder.Decode(topic, payload, Clock::Real()->NowNs(), &readings).ok) ++rejected;
      });
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->WaitConnected(std::chrono::seconds(5)).ok());
  auto fleet = Fleet::Start({.broker_url = (*broker)->url(),
                             .devices = 10,
                             .interval_s = 0.01,
                             .anomaly_every = 10,
                             .anomaly_after = 30,
                             .stuck_samples = 10,
                             .samples_per_device = 40});
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!(*fleet)->done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (*fleet)->Stop();
  ASSERT_TRUE((*fleet)->done());
  EXPECT_EQ((*fleet)->messages_published(), 400u);
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (senml + pydict + json == 400) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard lock(mu);
  EXPECT_EQ(senml + pydict + json, 400u);
  EXPECT_EQ(pydict, 80u);  // 20% of the devices
  EXPECT_EQ(senml, 80u);
  EXPECT_EQ(rejected, 0u);
  EXPECT_EQ(readings.size(), 1200u);  // three sensors each
  // Samples 30..39 with (sample + offset) % 10 == 0: one spike per device; and one device in
  // ten (sim-0005) has its temperature stuck for 10 samples from sample 25.
  std::vector<InjectedAnomaly> injected = (*fleet)->injected();
  ASSERT_EQ(injected.size(), 11u);
  std::vector<InjectedAnomaly> stuck;
  for (const InjectedAnomaly& a : injected) {
    if (a.kind == Insight::Kind::kStuck) stuck.push_back(a);
  }
  ASSERT_EQ(stuck.size(), 1u);
  EXPECT_EQ(stuck[0].device_id, "sim-0005");
  EXPECT_EQ(stuck[0].sensor, "temperature");
  // The longest run of one value it sent.
  size_t run = 0, longest = 0;
  double last = NAN;
  for (const Reading& r : readings) {
    if (r.device_id != "sim-0005" || r.sensor != "temperature") continue;
    run = r.value == last ? run + 1 : 1;
    last = r.value;
    longest = std::max(longest, run);
  }
  EXPECT_EQ(longest, 10u);
  EXPECT_EQ((*fleet)->format_of(0), WireFormat::kPythonDict);
  EXPECT_EQ((*fleet)->format_of(2), WireFormat::kSenml);
  EXPECT_EQ((*fleet)->format_of(5), WireFormat::kSeedJson);
}

}  // namespace
}  // namespace edgeway::device
