// Store-and-forward under faults, with the edgeway binary and two real mosquitto brokers: the
// upstream is down while 20,000 readings arrive, comes back, the gateway is killed (SIGKILL)
// during the drain and restarted while the upstream is down again, and the upstream returns.
// Every reading must arrive upstream, in order per device; duplicates only as at-least-once
// allows.
#include <fstream>
#include <map>
#include <mutex>

#include "edgeway/core/clock.h"
#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/store/store.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/mqtt_recorder.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway {
namespace {

using std::chrono::milliseconds;
using testing::EdgewayBinary;
using testing::Process;
using testing::WaitUntil;

constexpr milliseconds kLong(60000);
constexpr int kDevices = 20;
constexpr int kPerDevice = 1000;
constexpr int kMaxInFlight = 256;  // the forwarder's window
constexpr int kRecordsPerMessage = 10;

int64_t Count(const std::string& db, bool outbox) {
  auto store = store::Store::Open({.path = db, .read_only = true});
  if (!store.ok()) return -1;
  if (outbox) {
    auto size = (*store)->GetOutboxSize();
    return size.ok() ? size->messages : -1;
  }
  auto n = (*store)->CountReadings();
  return n.ok() ? *n : -1;
}

TEST(UpstreamIntegrationTest, OutageKillAndRestartLoseNothingAndKeepEachDevicesOrder) {
  testing::TempDir dir;
  auto local = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(local.ok()) << local.status();
  // Persistence and no queue limit, so that the recorder's session keeps everything.
  auto upstream = mqtt::EmbeddedBroker::Start({.work_dir = dir.File("upstream"),
                                               .persistence = true,
                                               .extra_config = {"max_queued_messages 0"}});
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  // Its own persistent session: nothing published while it reconnects is lost to it.
  testing::MqttRecorder recorder((*upstream)->url(), "edgeway/#", "upstream-recorder");
  ASSERT_TRUE((*upstream)->Pause().ok());

  const std::string db = dir.File("edgeway.db");
  const std::string config = dir.File("edgeway.yaml");
  std::ofstream(config) << fmt::format(
      "mqtt:\n  reconnect_max_s: 1\n"
      "upstream:\n  url: {}\n  max_messages_per_s: 400\n  max_records_per_message: {}\n",
      (*upstream)->url(), kRecordsPerMessage);
  auto start = [&](const std::string& tag) {
    auto gw = std::make_unique<Process>(
        std::vector<std::string>{EdgewayBinary(), "run", "-c", config, "--broker", (*local)->url(),
                                 "--store", db, "--summary-json", dir.File(tag + ".json"), "--http",
                                 "off"},
        dir.File(tag + ".log"));
    EXPECT_TRUE(WaitUntil(
        [&] { return gw->output().find("gateway subscribed") != std::string::npos; }, kLong))
        << gw->output();
    return gw;
  };

  auto gw = start("first");
  auto publisher = mqtt::Client::Start({.url = (*local)->url()}, nullptr);
  ASSERT_TRUE(publisher.ok());
  ASSERT_TRUE((*publisher)->WaitConnected(milliseconds(5000)).ok());
  const int64_t base = Clock::Real()->NowNs() / kNsPerSecond - 3600;
  for (int i = 0; i < kPerDevice; ++i) {
    for (int d = 0; d < kDevices; ++d) {
      ASSERT_TRUE((*publisher)
                      ->Publish(fmt::format("devices/dev-{}/telemetry", d),
                                fmt::format(R"({{"timestamp": {}, "counter": {}}})", base + i, i),
                                1)
                      .ok());
    }
  }
  ASSERT_TRUE((*publisher)->WaitPublished(kLong).ok());
  ASSERT_TRUE(WaitUntil([&] { return Count(db, false) == kDevices * kPerDevice; }, kLong))
      << Count(db, false) << "\n"
      << gw->output();
  const int64_t backlog = Count(db, true);
  EXPECT_GE(backlog, kDevices * kPerDevice / kRecordsPerMessage);
  EXPECT_EQ(recorder.count(), 0u);

  // The upstream returns: the drain starts by itself; kill the gateway a quarter of the way in.
  ASSERT_TRUE((*upstream)->Resume().ok());
  ASSERT_TRUE(
      WaitUntil([&] { return recorder.count() >= static_cast<size_t>(backlog / 4); }, kLong))
      << gw->output();
  gw->Signal(SIGKILL);
  EXPECT_EQ(gw->Wait(kLong), 128 + SIGKILL);
  const size_t before_kill = recorder.count();
  EXPECT_LT(before_kill, static_cast<size_t>(backlog));  // killed during the drain

  // Restarted while the upstream is down again; it comes back and the drain completes.
  ASSERT_TRUE((*upstream)->Pause().ok());
  gw = start("second");
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_GT(Count(db, true), 0);
  ASSERT_TRUE((*upstream)->Resume().ok());
  ASSERT_TRUE(WaitUntil([&] { return Count(db, true) == 0; }, kLong)) << gw->output();
  gw->Signal(SIGTERM);
  ASSERT_EQ(gw->Wait(kLong), 0) << gw->output();
  std::ifstream summary_file(dir.File("second.json"));
  nlohmann::json summary = nlohmann::json::parse(summary_file, nullptr, false);
  EXPECT_EQ(summary["outbox_backlog"], 0);
  EXPECT_EQ(summary["outbox_dropped"], 0);
  EXPECT_GT(summary["outbox_forwarded"].get<int64_t>(), 0);

  // Everything arrived, each device's first arrivals in order; count the duplicates.
  size_t settled = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        size_t now = recorder.count();
        bool same = now == settled;
        settled = now;
        return same && now > 0;
      },
      kLong));
  std::map<std::string, std::vector<int>> arrivals;
  for (const auto& [topic, payload] : recorder.messages()) {
    nlohmann::json pack = nlohmann::json::parse(payload, nullptr, false);
    ASSERT_TRUE(pack.is_array() && !pack.empty()) << payload;
    std::string device = pack[0]["bn"].get<std::string>();
    for (const auto& record : pack) {
      ASSERT_EQ(record["n"], "counter");
      arrivals[device].push_back(record["v"].get<int>());
    }
  }
  ASSERT_EQ(arrivals.size(), static_cast<size_t>(kDevices));
  size_t duplicates = 0;
  for (const auto& [device, values] : arrivals) {
    std::vector<bool> seen(kPerDevice, false);
    int next = 0;  // the next first arrival expected
    for (int v : values) {
      ASSERT_GE(v, 0);
      ASSERT_LT(v, kPerDevice);
      if (seen[v]) {
        ++duplicates;
        continue;
      }
      ASSERT_EQ(v, next) << device << ": out of order";
      seen[v] = true;
      ++next;
    }
    EXPECT_EQ(next, kPerDevice) << device << ": lost readings";
  }
  // Only what was in flight or acknowledged-but-not-yet-deleted at the kill can come twice.
  EXPECT_LE(duplicates, static_cast<size_t>(2 * kMaxInFlight * kRecordsPerMessage));
  std::printf("upstream: %zu messages before the kill, %zu in all; %zu duplicate readings\n",
              before_kill, recorder.count(), duplicates);
}

}  // namespace
}  // namespace edgeway
