// The edgeway binary as a user runs it, against a real mosquitto on a free port and a real
// SQLite file: all three wire formats with invalid messages among them, a restart with messages
// published during the gap, the demo, and command-line errors.
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <random>
#include <set>

#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/store/store.h"
#include "edgeway/stream/analytics.h"
#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/broker_test.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway {
namespace {

using std::chrono::milliseconds;
using testing::EdgewayBinary;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Process;
using testing::WaitUntil;

constexpr milliseconds kLong(30000);

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, false);
}

int64_t StoredReadings(const std::string& path) {
  auto store = store::Store::Open({.path = path, .read_only = true});
  if (!store.ok()) return -1;
  auto n = (*store)->CountReadings();
  return n.ok() ? *n : -1;
}

// An hour ago in Unix seconds: readings recent enough for the store's 7-day retention.
int64_t AnHourAgoS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() -
         3600;
}

class GatewayIntegrationTest : public testing::BrokerTest {
 protected:
  // With `config`, the gateway reads it from a file of its own.
  std::unique_ptr<Process> StartGateway(const std::string& tag, const std::string& config = "") {
    std::vector<std::string> args = {
        EdgewayBinary(), "run",  "--broker",       broker_->url(),
        "--store",       db_,    "--summary-json", dir_.File(tag + ".json"),
        "--log-level",   "info", "--http",         "127.0.0.1:0"};
    if (!config.empty()) {
      std::ofstream(dir_.File(tag + ".yaml")) << config;
      args.insert(args.end(), {"--config", dir_.File(tag + ".yaml")});
    }
    auto gw = std::make_unique<Process>(args, dir_.File(tag + ".log"));
    // Subscribed once the log says so.
    EXPECT_TRUE(WaitUntil(
        [&] { return gw->output().find("gateway subscribed") != std::string::npos; }, kLong))
        << gw->output();
    return gw;
  }

  // http://127.0.0.1:PORT from the gateway's "dashboard and API at http://...:PORT/" line,
  // which comes after it subscribed; "" when it does not within kLong.
  static std::string ApiUrl(Process& gw) {
    std::string url;
    WaitUntil(
        [&] {
          std::string log = gw.output();
          size_t at = log.find("API at ");
          if (at == std::string::npos) return false;
          size_t end = log.find('/', log.find("//", at) + 2);
          if (end == std::string::npos) return false;
          url = log.substr(at + 7, end - at - 7);
          return true;
        },
        kLong);
    return url;
  }

  nlohmann::json StopGateway(Process& gw, const std::string& tag) {
    gw.Signal(SIGTERM);
    EXPECT_EQ(gw.Wait(kLong), 0) << gw.output();
    return ReadJson(dir_.File(tag + ".json"));
  }

  void Publish(const std::string& topic, const std::string& payload) {
    ASSERT_TRUE(publisher_->Publish(topic, payload, 1).ok());
  }

  testing::TempDir dir_;
  std::string db_ = dir_.File("edgeway.db");
};

TEST_F(GatewayIntegrationTest, StoresEveryValidReadingOnceAndCountsEveryInvalidOneByReason) {
  auto gw = StartGateway("run");
  // It says which detector judges, and from which reading.
  EXPECT_THAT(gw->output(), HasSubstr("analytics: the 3-sigma rule over 50 readings, judging a "
                                      "sensor from its reading 11"));
  const int64_t base = AnHourAgoS();
  std::map<std::tuple<std::string, std::string, int64_t>, double> expected;
  for (int i = 0; i < 100; ++i) {
    // The seed's JSON object: two readings.
    Publish("devices/json-1/telemetry",
            fmt::format(
                R"({{"device_id": "json-1", "timestamp": {}, "temperature": {}, "humidity": {}}})",
                base + i, 20 + i * 0.01, 40 + i));
    expected[{"json-1", "temperature", (base + i) * 1'000'000'000}] = 20 + i * 0.01;
    expected[{"json-1", "humidity", (base + i) * 1'000'000'000}] = 40 + i;
    // A SenML pack: two records.
    Publish(
        "devices/senml-1/telemetry",
        fmt::format(
            R"([{{"bn": "senml-1:", "bt": {}, "n": "temp", "v": {}}}, {{"n": "rh", "t": 0.5, "v": {}}}])",
            base + i, 10 + i, 50 - i));
    expected[{"senml-1", "temp", (base + i) * 1'000'000'000}] = 10 + i;
    expected[{"senml-1", "rh", (base + i) * 1'000'000'000 + 500'000'000}] = 50 - i;
    // The seed's MicroPython str(dict).
    Publish("sensors/temperature",
            fmt::format("{{'device_id': 'py-1', 'timestamp': {}, 'temperature': {}, 'ok': True}}",
                        base + i, 30 + i));
    expected[{"py-1", "temperature", (base + i) * 1'000'000'000}] = 30 + i;
    if (i % 10 == 0) {
      Publish("sensors/x", "{\"device_id\": \"bad\", \"t\": ");          // malformed
      Publish("sensors/x", R"({"temperature": 1})");                     // no_device_id
      Publish("sensors/x", "{'device_id': 'bad', 'temperature': nan}");  // non_finite
      Publish("sensors/x", std::string(70 * 1024, ' ') + "{}");          // oversized
      Publish("devices/a/telemetry", R"({"device_id": "b", "t": 1})");   // device_mismatch
      Publish("sensors/x", R"({"device_id": "far", "timestamp": 4000000000, "t": 1})");  // future
    }
  }
  ASSERT_TRUE(publisher_->WaitPublished(kLong).ok());
  ASSERT_TRUE(WaitUntil([&] { return StoredReadings(db_) == 500; }, kLong))
      << StoredReadings(db_) << "\n"
      << gw->output();
  nlohmann::json summary = StopGateway(*gw, "run");

  EXPECT_EQ(summary["messages_received"], 360);
  EXPECT_EQ(summary["readings_stored"], 500);
  EXPECT_EQ(summary["readings_duplicate"], 0);
  EXPECT_EQ(summary["messages_rejected"], 60);
  for (const char* reason : {"malformed", "no_device_id", "non_finite", "oversized",
                             "device_mismatch", "future_timestamp"}) {
    EXPECT_EQ(summary["rejected"][reason], 10) << reason;
  }
  EXPECT_EQ(summary["rejected"]["queue_full"], 0);
  EXPECT_EQ(summary["devices"], 3);
  // The process's high-water mark, which a gateway this idle keeps well under 1 GiB.
  EXPECT_GT(summary["peak_resident_bytes"].get<int64_t>(), 1 << 20);
  EXPECT_LT(summary["peak_resident_bytes"].get<int64_t>(), int64_t{1} << 30);

  auto store = store::Store::Open({.path = db_, .read_only = true});
  ASSERT_TRUE(store.ok());
  auto readings = (*store)->Readings({.limit = 10000});
  ASSERT_TRUE(readings.ok());
  ASSERT_EQ(readings->size(), expected.size());
  for (const Reading& r : *readings) {
    auto it = expected.find({r.device_id, r.sensor, r.ts_ns});
    ASSERT_NE(it, expected.end()) << r.device_id << "/" << r.sensor << "@" << r.ts_ns;
    EXPECT_DOUBLE_EQ(r.value, it->second);
  }
  // The rejects were logged, rate-limited: one line per reason, not ten.
  std::string log = gw->output();
  size_t lines = 0;
  for (size_t at = log.find("malformed:"); at != std::string::npos;
       at = log.find("malformed:", at + 1))
    ++lines;
  EXPECT_GE(lines, 1u);
  EXPECT_LT(lines, 10u);
}

TEST_F(GatewayIntegrationTest, ASensorStuckAtOneValueIsStoredAsAStuckInsight) {
  auto gw = StartGateway("stuck");
  const int64_t base = AnHourAgoS();
  // Whole degrees that change at every reading, then the same one 40 times: stuck at its 20th
  // (the minimum run; its longest run before was 1).
  for (int i = 0; i < 100; ++i) {
    const int value = i < 60 ? 20 + i % 3 : 25;
    Publish("devices/th-1/telemetry",
            fmt::format(R"({{"device_id": "th-1", "timestamp": {}, "temperature": {}}})", base + i,
                        value));
  }
  ASSERT_TRUE(publisher_->WaitPublished(kLong).ok());
  ASSERT_TRUE(WaitUntil([&] { return StoredReadings(db_) == 100; }, kLong)) << gw->output();
  EXPECT_EQ(StopGateway(*gw, "stuck")["stuck_sensors"], 1);

  auto store = store::Store::Open({.path = db_, .read_only = true});
  ASSERT_TRUE(store.ok());
  auto stuck = (*store)->Insights({.kind = Insight::Kind::kStuck});
  ASSERT_TRUE(stuck.ok());
  ASSERT_EQ(stuck->size(), 1u);
  EXPECT_EQ((*stuck)[0].device_id, "th-1");
  EXPECT_EQ((*stuck)[0].sensor, "temperature");
  EXPECT_EQ((*stuck)[0].ts_ns, (base + 79) * 1'000'000'000);
  EXPECT_THAT(
      (*stuck)[0].summary,
      HasSubstr("has read 25 for 20 readings in a row; its longest run of one value before was 1"));
}

TEST_F(GatewayIntegrationTest, RestartLosesNothingPublishedDuringTheGap) {
  const int64_t base = AnHourAgoS();
  auto publish_batch = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      Publish("devices/gap-1/telemetry",
              fmt::format(R"({{"timestamp": {}, "level": {}}})", base + i, i));
    }
    ASSERT_TRUE(publisher_->WaitPublished(kLong).ok());
  };
  auto first = StartGateway("first");
  publish_batch(0, 1000);
  ASSERT_TRUE(WaitUntil([&] { return StoredReadings(db_) == 1000; }, kLong));
  nlohmann::json s1 = StopGateway(*first, "first");
  EXPECT_EQ(s1["readings_stored"], 1000);

  publish_batch(1000, 3000);  // the gateway is down; its persistent session queues these

  auto second = StartGateway("second");
  ASSERT_TRUE(WaitUntil([&] { return StoredReadings(db_) == 3000; }, kLong))
      << StoredReadings(db_) << "\n"
      << second->output();
  nlohmann::json s2 = StopGateway(*second, "second");
  EXPECT_EQ(s2["readings_stored"], 2000);

  auto store = store::Store::Open({.path = db_, .read_only = true});
  auto readings = (*store)->Readings({.device_id = "gap-1", .limit = 10000});
  ASSERT_EQ(readings->size(), 3000u);
  for (int i = 0; i < 3000; ++i) {
    EXPECT_DOUBLE_EQ((*readings)[i].value, i);  // ordered by time: each exactly once
  }
}

// A crash (SIGKILL: no stop, so nothing is saved at the end) does not send the detector back to
// its warmup: the next start goes on from the last snapshot of the analytics state, and a spike
// right after it is an anomaly (a fresh ensemble would still be learning).
TEST_F(GatewayIntegrationTest, AfterACrashTheDetectorGoesOnFromItsLastSnapshot) {
  const std::string config =
      "analytics: {detector: ensemble, ensemble_warmup: 50, save_interval_s: 0.2}\n";
  const int64_t base = AnHourAgoS();
  auto publish = [&](int i, double value) {
    Publish("devices/crash-1/telemetry",
            fmt::format(R"({{"timestamp": {}, "temperature": {}}})", base + i, value));
  };
  auto first = StartGateway("before-crash", config);
  for (int i = 0; i < 200; ++i) publish(i, 20 + 0.5 * std::sin(i));
  ASSERT_TRUE(publisher_->WaitPublished(kLong).ok());
  // Until a snapshot holds the last reading: restored, that reading is a redelivery.
  auto snapshot_has_the_last_reading = [&] {
    auto store = store::Store::Open({.path = db_, .read_only = true});
    if (!store.ok()) return false;
    std::vector<SavedKeyState> saved;
    auto read =
        (*store)->ForEachAnalyticsState([&](const SavedKeyState& k) { saved.push_back(k); });
    if (!read.ok() || saved.size() != 1) return false;
    stream::KeyedAnalytics analytics({.detector = stream::DetectorKind::kEnsemble,
                                      .ensemble_warmup = 50,
                                      .skip_duplicates = true});
    std::vector<Insight> insights;
    return analytics.Restore(saved[0]) && analytics
                                              .Process({.device_id = "crash-1",
                                                        .sensor = "temperature",
                                                        .ts_ns = (base + 199) * 1'000'000'000},
                                                       &insights)
                                              .duplicate;
  };
  ASSERT_TRUE(WaitUntil(snapshot_has_the_last_reading, kLong)) << first->output();
  first->Signal(SIGKILL);
  ASSERT_EQ(first->Wait(kLong), 128 + SIGKILL);

  auto second = StartGateway("after-crash", config);
  EXPECT_THAT(second->output(),
              HasSubstr("analytics: 1 of 1 keys go on from the state saved by the last run"));
  publish(200, 60);
  ASSERT_TRUE(publisher_->WaitPublished(kLong).ok());
  ASSERT_TRUE(WaitUntil([&] { return StoredReadings(db_) == 201; }, kLong)) << second->output();
  EXPECT_EQ(StopGateway(*second, "after-crash")["anomalies_detected"], 1);
}

TEST_F(GatewayIntegrationTest, TwinCommandSetsDesiredWithOptimisticLocking) {
  auto gw = StartGateway("twin");
  const std::string url = ApiUrl(*gw);
  ASSERT_FALSE(url.empty()) << gw->output();
  Publish("devices/tw-1/telemetry", R"({"temperature": 21.5})");
  auto twin = [&](std::vector<std::string> args, const std::string& tag) {
    args.insert(args.begin(), {EdgewayBinary(), "twin"});
    args.insert(args.end(), {"--gateway", url});
    Process p(args, dir_.File(tag + ".out"));
    int code = p.Wait(kLong);
    return std::make_pair(code, p.output());
  };
  ASSERT_TRUE(WaitUntil([&] { return twin({"get", "tw-1"}, "get0").first == 0; }, kLong));
  auto [set_code, set_out] =
      twin({"set", "tw-1", "interval_s=5", "led.on=true", "--version", "0"}, "set1");
  EXPECT_EQ(set_code, 0) << set_out;
  nlohmann::json doc = nlohmann::json::parse(set_out, nullptr, false);
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["state"]["desired"],
            nlohmann::json::parse(R"({"interval_s": 5, "led": {"on": true}})"));
  EXPECT_DOUBLE_EQ(doc["state"]["reported"]["temperature"].get<double>(), 21.5);
  auto [stale_code, stale_out] = twin({"set", "tw-1", "interval_s=9", "--version", "0"}, "set2");
  EXPECT_EQ(stale_code, 1);
  EXPECT_THAT(stale_out, HasSubstr("version conflict"));
  EXPECT_EQ(twin({"set", "tw-1", "novalue"}, "set3").first, 2);
  EXPECT_EQ(twin({"get"}, "get1").first, 2);
  StopGateway(*gw, "twin");
  EXPECT_EQ(twin({"get", "tw-1"}, "get2").first, 1);  // nobody listening
}

TEST_F(GatewayIntegrationTest, DeviceAgentReadsSysfsAndFollowsItsTwin) {
  // A board with one hwmon temperature and a LED, as a tree shaped like /sys.
  const std::string sys = dir_.File("sys");
  std::filesystem::create_directories(sys + "/class/hwmon/hwmon0");
  std::filesystem::create_directories(sys + "/class/leds/status");
  std::ofstream(sys + "/class/hwmon/hwmon0/name") << "cpu\n";
  std::ofstream(sys + "/class/hwmon/hwmon0/temp1_input") << "45000\n";
  std::ofstream(sys + "/class/leds/status/brightness") << "0\n";
  auto gw = StartGateway("agent-gw");
  const std::string url = ApiUrl(*gw);
  ASSERT_FALSE(url.empty()) << gw->output();

  Process agent({EdgewayBinary(), "device", "--broker", broker_->url(), "--id", "board-1",
                 "--hwmon", "--sysfs-root", sys, "--led", "status=" + sys + "/class/leds/status",
                 "--interval", "0.1", "--heartbeat", "0.3", "--queue", dir_.File("agent.db"),
                 "--summary-json", dir_.File("agent.json")},
                dir_.File("agent.log"));
  auto readings = [&] {
    auto store = store::Store::Open({.path = db_, .read_only = true});
    if (!store.ok()) return std::vector<Reading>();
    auto r = (*store)->Readings({.device_id = "board-1", .limit = 10000});
    return r.ok() ? *r : std::vector<Reading>();
  };
  ASSERT_TRUE(WaitUntil([&] { return readings().size() >= 2; }, kLong)) << agent.output();
  EXPECT_EQ(readings()[0].sensor, "cpu_temp1");
  EXPECT_DOUBLE_EQ(readings()[0].value, 45.0);
  EXPECT_EQ(readings()[0].unit, "Cel");

  Process set({EdgewayBinary(), "twin", "set", "board-1", "status=true", "interval_s=0.2",
               "--gateway", url},
              dir_.File("set.out"));
  ASSERT_EQ(set.Wait(kLong), 0) << set.output();
  auto led = [&] {
    std::ifstream in(sys + "/class/leds/status/brightness");
    int v = -1;
    in >> v;
    return v;
  };
  ASSERT_TRUE(WaitUntil([&] { return led() == 1; }, kLong)) << agent.output();
  // The device reported what it applied: nothing left in the delta.
  ASSERT_TRUE(WaitUntil(
      [&] {
        Process get({EdgewayBinary(), "twin", "get", "board-1", "--gateway", url},
                    dir_.File("get.out"));
        if (get.Wait(kLong) != 0) return false;
        nlohmann::json doc = nlohmann::json::parse(get.output(), nullptr, false);
        return doc.is_object() && doc["state"]["delta"].empty() &&
               doc["state"]["reported"]["status"] == true &&
               doc["state"]["reported"]["interval_s"] == 0.2;
      },
      kLong));
  agent.Signal(SIGTERM);
  ASSERT_EQ(agent.Wait(kLong), 0) << agent.output();
  nlohmann::json summary = ReadJson(dir_.File("agent.json"));
  EXPECT_EQ(summary["twin_version"], 1);
  EXPECT_GT(summary["samples"].get<int>(), 2);
  StopGateway(*gw, "agent-gw");
}

TEST_F(GatewayIntegrationTest, TheSimulatedFleetInjectsOnlyTheFaultsAskedFor) {
  // 20 devices, 60 samples each: with --stuck-every 4, five devices have a sensor stuck for 25
  // samples from their 20th-29th; spikes and steps are off. With both off, nothing is injected.
  auto run = [&](const std::string& tag, const std::string& stuck_every) {
    Process fleet(
        {EdgewayBinary(), "device", "--simulate", "20", "--broker", broker_->url(), "--interval",
         "0.005", "--samples", "60", "--anomaly-every", "0", "--stuck-every", stuck_every},
        dir_.File(tag + ".log"));
    EXPECT_EQ(fleet.Wait(kLong), 0) << fleet.output();
    return fleet.output();
  };
  EXPECT_THAT(run("stuck", "4"), HasSubstr("5 anomalies injected (5 of them stuck sensors)"));
  EXPECT_THAT(run("none", "0"), HasSubstr("0 anomalies injected (0 of them stuck sensors)"));
}

TEST(EdgewayCliTest, DemoDetectsTheAnomaliesItInjects) {
  testing::TempDir dir;
  Process demo({EdgewayBinary(), "demo", "--detector", "sigma", "--devices", "20", "--duration",
                "8", "--interval", "0.1", "--anomaly-every", "25", "--store", dir.File("demo.db"),
                "--summary-json", dir.File("summary.json"), "--http", "127.0.0.1:0"},
               dir.File("demo.log"));
  ASSERT_EQ(demo.Wait(kLong), 0) << demo.output();
  nlohmann::json s = ReadJson(dir.File("summary.json"));
  ASSERT_TRUE(s.is_object()) << demo.output();
  for (const char* key : {"messages_received", "readings_stored", "insights_stored", "rejected",
                          "anomalies_detected", "anomalies_injected", "anomalies_injected_detected",
                          "false_alarms", "stuck_injected", "stuck_injected_detected"}) {
    EXPECT_TRUE(s.contains(key)) << key;
  }
  EXPECT_GT(s["anomalies_injected"].get<int>(), 20);
  EXPECT_GE(s["anomalies_injected_detected"].get<double>(),
            0.95 * s["anomalies_injected"].get<double>());
  // Devices 5 and 15 have a sensor stuck for 25 samples from sample 25, of about 80.
  EXPECT_EQ(s["stuck_injected"], 2);
  EXPECT_EQ(s["stuck_injected_detected"], s["stuck_injected"]);
  EXPECT_GE(s["stuck_sensors"], s["stuck_injected"]);
  EXPECT_THAT(demo.output(), HasSubstr("stuck sensors found"));
  EXPECT_EQ(s["readings_stored"], s["readings_received"]);
  EXPECT_GT(s["clock_substituted"].get<int>(), 0);  // the fleet's MicroPython clocks
  EXPECT_GT(s["messages_rejected"].get<int>(), 0);  // the fleet's malformed messages
  EXPECT_THAT(demo.output(), HasSubstr("anomalies detected"));
  EXPECT_THAT(demo.output(), HasSubstr("dashboard: http://127.0.0.1:"));
}

// The ensemble judges after 300 samples, so the fleet injects nothing before; each sensor's first
// spike after that is news, and the noise of the simulated signal raises (almost) no alarm.
TEST(EdgewayCliTest, DemoWithTheEnsembleFindsSpikesAfterItsWarmupWithFewFalseAlarms) {
  testing::TempDir dir;
  Process demo({EdgewayBinary(), "demo", "--detector", "ensemble", "--devices", "5", "--duration",
                "8", "--interval", "0.01", "--anomaly-every", "150", "--store", dir.File("demo.db"),
                "--summary-json", dir.File("summary.json"), "--http", "off"},
               dir.File("demo.log"));
  ASSERT_EQ(demo.Wait(kLong), 0) << demo.output();
  nlohmann::json s = ReadJson(dir.File("summary.json"));
  ASSERT_TRUE(s.is_object()) << demo.output();
  EXPECT_GE(s["anomalies_injected"].get<int>(), 10);
  EXPECT_GE(s["anomalies_injected_detected"].get<double>(),
            0.8 * s["anomalies_injected"].get<double>());
  EXPECT_LE(s["false_alarms"].get<int>(), 2);
  EXPECT_EQ(s["false_alarms"].get<int>(),
            s["anomalies_detected"].get<int>() - s["anomalies_injected_detected"].get<int>());
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The anomaly_score of a timestamp,value,anomaly_score row of `edgeway detect`.
double ScoreOf(const std::string& row) { return std::stod(row.substr(row.rfind(',') + 1)); }

// A series for edgeway detect: `rows` readings of Gaussian noise around 10 (seeded), one a minute
// from 2014-04-01 00:00, with a spike of 100 at row `spike` (the first row is 0).
void WriteNoiseWithSpike(const std::string& path, int rows, int spike, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  std::ofstream csv(path);
  csv << "timestamp,value\n";
  for (int i = 0; i < rows; ++i) {
    csv << fmt::format("2014-04-{:02d} {:02d}:{:02d}:00,{:.3f}\n", 1 + i / 1440, i / 60 % 24,
                       i % 60, i == spike ? 100.0 : 10 + noise(rng));
  }
}

// The score of each row that `edgeway detect --input input` writes, with `args` added.
std::vector<double> DetectScores(const testing::TempDir& dir, const std::string& input,
                                 const std::vector<std::string>& args) {
  std::vector<std::string> command = {EdgewayBinary(), "detect",   "--input",
                                      input,           "--output", dir.File("scores.csv")};
  command.insert(command.end(), args.begin(), args.end());
  Process p(command, dir.File("detect.log"));
  EXPECT_EQ(p.Wait(kLong), 0) << p.output();
  std::vector<std::string> rows = Lines(dir.File("scores.csv"));
  std::vector<double> scores;
  for (size_t i = 1; i < rows.size(); ++i) scores.push_back(ScoreOf(rows[i]));
  return scores;
}

TEST(EdgewayCliTest, DetectScoresEveryRowWithoutLookAhead) {
  testing::TempDir dir;
  constexpr int kRows = 700, kSpike = 600;
  WriteNoiseWithSpike(dir.File("full.csv"), kRows, kSpike, 11);
  WriteNoiseWithSpike(dir.File("prefix.csv"), kSpike + 1, kSpike, 11);
  for (std::string detector : {"ensemble", "sigma"}) {
    auto run = [&](const std::string& in, const std::string& out) {
      Process p({EdgewayBinary(), "detect", "--detector", detector, "--input", dir.File(in),
                 "--output", dir.File(out)},
                dir.File(out + ".log"));
      EXPECT_EQ(p.Wait(kLong), 0) << p.output();
    };
    run("full.csv", "full.out");
    run("prefix.csv", "prefix.out");
    std::vector<std::string> a = Lines(dir.File("full.out")), b = Lines(dir.File("prefix.out"));
    ASSERT_EQ(a.size(), kRows + 1u) << detector;
    EXPECT_EQ(a[0], "timestamp,value,anomaly_score");
    for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(a[i], b[i]) << detector << " row " << i;
    // The event is the spike and the few readings after it (the ensemble's likelihood averages
    // the last 8 surprises, so it may peak a reading or two later): it must stand out.
    double event = 0, elsewhere = 0;
    for (size_t i = 1; i < a.size(); ++i) {
      double score = ScoreOf(a[i]);
      EXPECT_GE(score, 0);
      EXPECT_LE(score, 1);
      const bool in_event = i >= kSpike + 1 && i <= kSpike + 9;
      (in_event ? event : elsewhere) = std::max(in_event ? event : elsewhere, score);
    }
    EXPECT_GT(event, 0.5) << detector;
    // The sigma rule's score is a Gaussian probability: near 1 for any 3-sigma wiggle of noise.
    // The ensemble's scores stay low on noise.
    EXPECT_GT(event, (detector == "ensemble" ? 2 : 1) * elsewhere) << detector;
    EXPECT_EQ(a[kSpike + 1].substr(0, 24), "2014-04-01 10:00:00,100,") << detector;
  }

  // Bad rows are left out and reported with their lines; with --strict the first is an error.
  std::ofstream(dir.File("bad.csv")) << "timestamp,value\n2014-04-01 00:00:00,1\n"
                                        "2014-04-01 00:01:00,x\n2014-04-01 00:02:00,nan\n"
                                        "2014-04-01 00:03:00,3\n";
  Process lenient(
      {EdgewayBinary(), "detect", "--input", dir.File("bad.csv"), "--output", dir.File("bad.out")},
      dir.File("c.log"));
  EXPECT_EQ(lenient.Wait(kLong), 0) << lenient.output();
  EXPECT_THAT(lenient.output(), HasSubstr("bad.csv:3: value 'x' is not a number (left out)"));
  EXPECT_THAT(lenient.output(), HasSubstr("bad.csv:4: value 'nan' is not a number (left out)"));
  EXPECT_THAT(lenient.output(), HasSubstr("bad.csv: 2 bad rows left out, 2 scored"));
  std::vector<std::string> scored = Lines(dir.File("bad.out"));
  ASSERT_EQ(scored.size(), 3u);
  EXPECT_EQ(scored[2].substr(0, 22), "2014-04-01 00:03:00,3,");
  // So are values outside a plausible range, when one is given.
  Process plausible({EdgewayBinary(), "detect", "--input", dir.File("bad.csv"), "--output",
                     dir.File("plausible.out"), "--min", "0", "--max", "2"},
                    dir.File("p.log"));
  EXPECT_EQ(plausible.Wait(kLong), 0) << plausible.output();
  EXPECT_THAT(plausible.output(),
              HasSubstr("bad.csv:5: value 3 is outside the plausible range 0 to 2 (left out)"));
  EXPECT_THAT(plausible.output(), HasSubstr("bad.csv: 3 bad rows left out, 1 scored"));
  ASSERT_EQ(Lines(dir.File("plausible.out")).size(), 2u);
  Process upside_down({EdgewayBinary(), "detect", "--input", dir.File("bad.csv"), "--output", "-",
                       "--min", "2", "--max", "0"},
                      dir.File("u.log"));
  EXPECT_EQ(upside_down.Wait(kLong), 2);
  EXPECT_THAT(upside_down.output(), HasSubstr("--max (0) must be above --min (2)"));
  // Rows out of time order are scored as they come, and counted.
  std::ofstream(dir.File("order.csv")) << "2014-04-01 00:02:00,1\n2014-04-01 00:01:00,2\n"
                                          "2014-04-01 00:03:00,3\n2014-04-01 00:00:00,4\n";
  Process order({EdgewayBinary(), "detect", "--input", dir.File("order.csv"), "--output",
                 dir.File("order.out")},
                dir.File("o.log"));
  EXPECT_EQ(order.Wait(kLong), 0) << order.output();
  EXPECT_THAT(order.output(), HasSubstr("order.csv: 2 rows earlier than the row before them (the "
                                        "first at line 2), scored in the order of the file"));
  EXPECT_EQ(Lines(dir.File("order.out")).size(), 5u);
  Process strict(
      {EdgewayBinary(), "detect", "--input", dir.File("bad.csv"), "--output", "-", "--strict"},
      dir.File("d.log"));
  EXPECT_EQ(strict.Wait(kLong), 2);
  EXPECT_THAT(strict.output(), HasSubstr("bad.csv:3: value 'x' is not a number"));
  EXPECT_THAT(strict.output(), Not(HasSubstr("left out")));
  // A failed run leaves no output file half written.
  Process strict_file({EdgewayBinary(), "detect", "--input", dir.File("bad.csv"), "--output",
                       dir.File("strict.out"), "--strict"},
                      dir.File("e.log"));
  EXPECT_EQ(strict_file.Wait(kLong), 2);
  EXPECT_FALSE(std::filesystem::exists(dir.File("strict.out")));
  // But what is not a regular file (a FIFO here; /dev/null alike) is written to, never removed.
  ASSERT_EQ(mkfifo(dir.File("out.fifo").c_str(), 0600), 0);
  Process reader(
      {"/bin/sh", "-c", "cat '" + dir.File("out.fifo") + "' > '" + dir.File("got") + "'"},
      dir.File("f.log"));
  Process strict_fifo({EdgewayBinary(), "detect", "--input", dir.File("bad.csv"), "--output",
                       dir.File("out.fifo"), "--strict"},
                      dir.File("g.log"));
  EXPECT_EQ(strict_fifo.Wait(kLong), 2);
  EXPECT_EQ(reader.Wait(kLong), 0);
  EXPECT_TRUE(std::filesystem::is_fifo(dir.File("out.fifo")));
  EXPECT_EQ(Lines(dir.File("got")).front(), "timestamp,value,anomaly_score");
}

// Rows are scored and written as they come, so that a live stream can be piped through: from a
// FIFO, the first rows are scored while the writer still holds it open; from standard input the
// scores are those of the same rows read from a file.
TEST(EdgewayCliTest, DetectScoresAStreamAsItComes) {
  testing::TempDir dir;
  constexpr int kRows = 400;
  WriteNoiseWithSpike(dir.File("in.csv"), kRows, 350, 5);
  const std::vector<std::string> in = Lines(dir.File("in.csv"));
  ASSERT_EQ(mkfifo(dir.File("in.fifo").c_str(), 0600), 0);
  Process live(
      {EdgewayBinary(), "detect", "--input", dir.File("in.fifo"), "--output", dir.File("live.csv")},
      dir.File("live.log"));
  std::ofstream fifo(dir.File("in.fifo"));
  for (int i = 0; i <= kRows / 2; ++i) fifo << in[i] << "\n";  // the header and half the rows
  fifo.flush();
  EXPECT_TRUE(WaitUntil([&] { return Lines(dir.File("live.csv")).size() == kRows / 2 + 1; }, kLong))
      << Lines(dir.File("live.csv")).size() << " lines";
  for (int i = kRows / 2 + 1; i <= kRows; ++i) fifo << in[i] << "\n";
  fifo.close();
  EXPECT_EQ(live.Wait(kLong), 0) << live.output();

  Process piped({"/bin/sh", "-c",
                 "cat '" + dir.File("in.csv") + "' | '" + EdgewayBinary() +
                     "' detect --input - --output - > '" + dir.File("piped.csv") + "'"},
                dir.File("piped.log"));
  EXPECT_EQ(piped.Wait(kLong), 0) << piped.output();
  const std::vector<std::string> scored = Lines(dir.File("live.csv"));
  EXPECT_EQ(scored.size(), kRows + 1u);
  EXPECT_EQ(Lines(dir.File("piped.csv")), scored);
  EXPECT_EQ(DetectScores(dir, dir.File("in.csv"), {}).size(), kRows + 0u);
  EXPECT_EQ(Lines(dir.File("scores.csv")), scored);
}

TEST(EdgewayCliTest, DetectReportsAStuckSensorWithItsTimestampAndRow) {
  // 100 readings that all differ, then one value 30 times: stuck at its 20th, row 120.
  testing::TempDir dir;
  {
    std::ofstream csv(dir.File("in.csv"));
    csv << "timestamp,value\n";
    for (int i = 0; i < 130; ++i)
      csv << fmt::format("2014-04-01 {:02d}:{:02d}:00,{}\n", i / 60, i % 60, i < 100 ? i : 7.5);
  }
  Process p(
      {EdgewayBinary(), "detect", "--input", dir.File("in.csv"), "--output", dir.File("out.csv")},
      dir.File("detect.log"));
  EXPECT_EQ(p.Wait(kLong), 0) << p.output();
  EXPECT_THAT(
      p.output(),
      HasSubstr("in.csv: 2014-04-01 01:59:00 (row 120, line 121): in/value has read 7.5 for 20 "
                "readings in a row; its longest run of one value before was 1"));
  EXPECT_EQ(Lines(dir.File("out.csv")).size(), 131u);  // the scores as always
}

// Noise around 10 with -127 at rows 401 and 601: the first is beyond the range, the second is the
// very value again, far beyond it: a fault code, said on standard error with its row and line.
TEST(EdgewayCliTest, DetectReportsAFaultCodeReadAgain) {
  testing::TempDir dir;
  WriteNoiseWithSpike(dir.File("in.csv"), 800, 400, 3);
  {
    std::vector<std::string> rows = Lines(dir.File("in.csv"));
    rows[401] = "2014-04-01 06:40:00,-127";  // line 402: row 401 (the header is line 1)
    rows[601] = "2014-04-01 10:00:00,-127";
    std::ofstream csv(dir.File("in.csv"));
    for (const std::string& row : rows) csv << row << "\n";
  }
  Process p(
      {EdgewayBinary(), "detect", "--input", dir.File("in.csv"), "--output", dir.File("out.csv")},
      dir.File("detect.log"));
  EXPECT_EQ(p.Wait(kLong), 0) << p.output();
  EXPECT_THAT(p.output(), HasSubstr("in.csv: 2014-04-01 10:00:00 (row 601, line 602): -127 again, "
                                    "exactly as read before and far beyond the range of the "
                                    "series: a fault code?"));
  EXPECT_THAT(p.output(), Not(HasSubstr("(row 401, line 402): -127 again")));
  const std::vector<std::string> out = Lines(dir.File("out.csv"));
  ASSERT_EQ(out.size(), 801u);
  EXPECT_DOUBLE_EQ(ScoreOf(out[601]), 1);  // each time an anomaly too
}

// The seed's detect_seasonality, which it never defined: the cycle the ensemble finds is said as
// soon as it is found, in readings and in time, with the row where the forecast of it takes over.
TEST(EdgewayCliTest, DetectSaysWhichCycleItFound) {
  testing::TempDir dir;
  {
    std::mt19937_64 rng(4);
    std::normal_distribution<double> noise(0, 0.1);
    std::ofstream csv(dir.File("hourly.csv"));
    csv << "timestamp,value\n";
    for (int i = 0; i < 2000; ++i) {  // one a minute, a cycle an hour
      csv << fmt::format("2014-04-{:02d} {:02d}:{:02d}:00,{:.3f}\n", 1 + i / 1440, i / 60 % 24,
                         i % 60, 20 + 5 * std::sin(2 * std::numbers::pi * i / 60) + noise(rng));
    }
  }
  Process p({EdgewayBinary(), "detect", "--input", dir.File("hourly.csv"), "--output",
             dir.File("out.csv")},
            dir.File("detect.log"));
  EXPECT_EQ(p.Wait(kLong), 0) << p.output();
  // The period is looked for once 1200 readings are in, from the 16th on.
  EXPECT_THAT(p.output(),
              HasSubstr("hourly.csv: 2014-04-01 20:15:00 (row 1216, line 1217): a cycle of 60 "
                        "readings (about 1h at their mean spacing) found; from row 1277 the "
                        "readings are judged against its Holt-Winters forecast"));
  // Noise has none, and nothing is said.
  WriteNoiseWithSpike(dir.File("noise.csv"), 2000, 1500, 4);
  Process q({EdgewayBinary(), "detect", "--input", dir.File("noise.csv"), "--output",
             dir.File("out.csv")},
            dir.File("noise.log"));
  EXPECT_EQ(q.Wait(kLong), 0) << q.output();
  EXPECT_THAT(q.output(), Not(HasSubstr("cycle")));
}

TEST(EdgewayCliTest, DetectWarmupIsWhereScoresBegin) {
  // A spike at row 150: inside the gateway's warmup of 300 readings, so unscored; with a warmup
  // of 100 (edgeway nab gives each file its probationary period) it is the event.
  testing::TempDir dir;
  constexpr int kSpike = 150;
  WriteNoiseWithSpike(dir.File("in.csv"), 400, kSpike, 3);
  // The highest score of the spike and the 8 readings after it.
  auto event_score = [&](const std::vector<std::string>& warmup) {
    std::vector<double> scores = DetectScores(dir, dir.File("in.csv"), warmup);
    EXPECT_EQ(scores.size(), 400u);
    return *std::max_element(scores.begin() + kSpike, scores.begin() + kSpike + 9);
  };
  EXPECT_EQ(event_score({}), 0);
  EXPECT_GT(event_score({"--warmup", "100"}), 0.5);
}

TEST(EdgewayCliTest, DetectThresholdGivesTheScoresAsTheGatewayJudgesThem) {
  // Noise with a spike at row 500. For a threshold sweep the ensemble reports small scores too;
  // at the gateway's threshold every score is 0 or at least that, and the spike is one.
  testing::TempDir dir;
  WriteNoiseWithSpike(dir.File("in.csv"), 700, 500, 4);
  const std::vector<double> sweep = DetectScores(dir, dir.File("in.csv"), {}),
                            gateway = DetectScores(dir, dir.File("in.csv"), {"--threshold", "0.5"});
  ASSERT_EQ(sweep.size(), 700u);
  ASSERT_EQ(gateway.size(), 700u);
  EXPECT_TRUE(std::any_of(sweep.begin(), sweep.end(), [](double s) { return s > 0 && s < 0.5; }));
  EXPECT_TRUE(
      std::all_of(gateway.begin(), gateway.end(), [](double s) { return s == 0 || s >= 0.5; }));
  EXPECT_GE(gateway[500], 0.5);
  EXPECT_EQ(std::count_if(gateway.begin(), gateway.end(), [](double s) { return s > 0; }), 1);
}

TEST(EdgewayCliTest, NabScoresACorpusAndHowMuchItOwesToWhichFilesAreInIt) {
  // Four series of noise, 1000 readings every 5 minutes, each with a spike at row 700. Two (in
  // the category "caught") are labelled around it; the other two ("missed") inside their
  // probationary period (the first 150 rows), where no detection counts: windows missed at any
  // threshold.
  testing::TempDir dir;
  std::filesystem::create_directories(dir.File("data/caught"));
  std::filesystem::create_directories(dir.File("data/missed"));
  nlohmann::json labels = nlohmann::json::object();
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 1);
  auto at = [](int row) {
    return fmt::format("2014-04-{:02d} {:02d}:{:02d}:00", 1 + row / 288, row % 288 / 12,
                       row % 12 * 5);
  };
  for (int f = 0; f < 4; ++f) {
    const std::string name = fmt::format("{}/s{}.csv", f < 2 ? "caught" : "missed", f);
    std::ofstream csv(dir.File("data/" + name));
    csv << "timestamp,value\n";
    for (int i = 0; i < 1000; ++i) csv << at(i) << "," << (i == 700 ? 60 : 10 + noise(rng)) << "\n";
    const int start = f < 2 ? 650 : 20;
    labels[name] = nlohmann::json::array({nlohmann::json::array({at(start), at(start + 100)})});
  }
  std::ofstream(dir.File("labels.json")) << labels.dump();

  Process nab({EdgewayBinary(), "nab", "--data", dir.path(), "--resamples", "400", "--json",
               dir.File("nab.json")},
              dir.File("nab.log"));
  ASSERT_EQ(nab.Wait(kLong), 0) << nab.output();
  EXPECT_THAT(nab.output(), HasSubstr("missed/s3.csv"));
  EXPECT_THAT(nab.output(), HasSubstr("in 90% of resamples"));
  const nlohmann::json out = ReadJson(dir.File("nab.json"));
  ASSERT_TRUE(out.is_object()) << nab.output();
  EXPECT_EQ(out["files"], 4);
  for (const char* profile : {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}) {
    SCOPED_TRACE(profile);
    const nlohmann::json& p = out[profile];
    // Two windows of four caught half way in: about half way from the null detector (0) to the
    // perfect one (100).
    const double score = p["score"].get<double>();
    EXPECT_GT(score, 35) << nab.output();
    EXPECT_LT(score, 60) << nab.output();
    // The number of caught files in a resample is binomial(4, 1/2): none (0) and all four (near
    // 100) each come up in 1/16 of them, more than the 5% at either end.
    EXPECT_LT(p["resampled"]["low"].get<double>(), 5);
    EXPECT_GT(p["resampled"]["high"].get<double>(), 80);
    EXPECT_NEAR(p["resampled"]["median"].get<double>(), score, 5);
    EXPECT_EQ(p["resampled"]["resamples"], 400);
  }
  // Where the score comes from: the caught category alone scores high, the missed one nothing
  // (0 at best, less with the false positives of the corpus threshold).
  EXPECT_THAT(nab.output(), HasSubstr("By category (standard profile)"));
  const nlohmann::json& caught = out["by_category"]["caught"];
  const nlohmann::json& missed = out["by_category"]["missed"];
  EXPECT_EQ(caught["files"], 2);
  EXPECT_EQ(caught["windows"], 2);
  EXPECT_GT(caught["alone"].get<double>(), 75);
  EXPECT_LT(missed["alone"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(caught["without"].get<double>(), 0);  // the missed ones at their best
  EXPECT_GT(missed["without"].get<double>(), 75);

  // At a fixed threshold, as a gateway with that analytics.anomaly_threshold would report: the
  // spikes score 1, so the same windows are caught.
  Process fixed({EdgewayBinary(), "nab", "--data", dir.path(), "--threshold", "0.5", "--json",
                 dir.File("fixed.json")},
                dir.File("fixed.log"));
  ASSERT_EQ(fixed.Wait(kLong), 0) << fixed.output();
  EXPECT_THAT(fixed.output(), HasSubstr("files at the threshold 0.5 (each event reported at its "
                                        "first score this high"));
  const nlohmann::json at_half = ReadJson(dir.File("fixed.json"));
  EXPECT_EQ(at_half["fixed_threshold"], 0.5);
  EXPECT_EQ(at_half["standard"]["threshold"], 0.5);
  EXPECT_NEAR(at_half["standard"]["score"].get<double>(), out["standard"]["score"].get<double>(),
              5);

  Process missing({EdgewayBinary(), "nab", "--data", dir.File("nowhere")}, dir.File("m.log"));
  EXPECT_EQ(missing.Wait(kLong), 2);
  EXPECT_THAT(missing.output(), HasSubstr(dir.File("nowhere") + "/labels.json: cannot open"));
}

TEST(EdgewayCliTest, BadConfigIsAUsageErrorNamingFileAndLine) {
  testing::TempDir dir;
  std::string config = dir.File("edgeway.yaml");
  std::ofstream(config) << "store:\n  path: x.db\nanalytics:\n  window: -3\n";
  Process run({EdgewayBinary(), "run", "-c", config}, dir.File("out.log"));
  EXPECT_EQ(run.Wait(kLong), 2);
  EXPECT_THAT(run.output(),
              HasSubstr(config + ":4: analytics.window must be in [2, 100000], got -3"));
}

TEST(EdgewayCliTest, UsageErrorsExitTwoAndHelpExitsZero) {
  testing::TempDir dir;
  Process missing({EdgewayBinary(), "device", "--broker", "tcp://127.0.0.1:1"}, dir.File("a.log"));
  EXPECT_EQ(missing.Wait(kLong), 2);
  EXPECT_THAT(missing.output(), HasSubstr("--simulate"));
  Process bad_url({EdgewayBinary(), "device", "--simulate", "1", "--broker", "localhost"},
                  dir.File("b.log"));
  EXPECT_EQ(bad_url.Wait(kLong), 2);
  EXPECT_THAT(bad_url.output(), HasSubstr("no scheme"));
  Process unknown({EdgewayBinary(), "bogus"}, dir.File("d.log"));
  EXPECT_EQ(unknown.Wait(kLong), 2);
  EXPECT_THAT(unknown.output(), HasSubstr("'bogus' is not an edgeway command"));
  Process help({EdgewayBinary(), "run", "--help"}, dir.File("c.log"));
  EXPECT_EQ(help.Wait(kLong), 0);
  EXPECT_THAT(help.output(), HasSubstr("--summary-json"));
}

}  // namespace
}  // namespace edgeway
