// The device agent against a real mosquitto, with an on-disk queue in a temp directory.
#include "edgeway/device/agent.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "edgeway/core/strings.h"
#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/security/envelope.h"
#include "gtest/gtest.h"
#include "testing/mqtt_recorder.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway::device {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// A sensor whose value the test sets; with `count_up` it rises by one at every read.
class TestSource final : public Source {
 public:
  explicit TestSource(bool count_up = false) : count_up_(count_up) {}
  std::string Describe() const override { return "test"; }
  absl::Status Read(std::vector<Sample>* out) override {
    double v = count_up_ ? value_.fetch_add(1) : value_.load();
    out->push_back({"level", v, ""});
    return absl::OkStatus();
  }
  std::atomic<double> value_{0};

 private:
  bool count_up_;
};

// The JSON payloads on `topic`, and the values of the SenML records among them, in order.
std::vector<json> Parsed(const testing::MqttRecorder& r, const std::string& topic) {
  std::vector<json> out;
  for (const std::string& p : r.payloads(topic)) out.push_back(json::parse(p, nullptr, false));
  return out;
}
std::vector<double> Values(const testing::MqttRecorder& r, const std::string& topic) {
  std::vector<double> out;
  for (const json& pack : Parsed(r, topic)) {
    for (const json& record : pack) out.push_back(record["v"].get<double>());
  }
  return out;
}

TEST(AgentTest, DeadbandAdaptiveSamplingAndTwinDrivenLed) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  testing::MqttRecorder recorder((*broker)->url(), "devices/#", "recorder");
  std::filesystem::create_directories(dir.File("leds/status"));
  std::ofstream(dir.File("leds/status/brightness")) << "0\n";
  auto led = LedActuator(dir.File("leds/status"));
  ASSERT_TRUE(led.ok());
  auto source = std::make_unique<TestSource>();
  TestSource* level = source.get();
  level->value_ = 20;
  AgentOptions options{
      .device_id = "dev-a",
      .broker_url = (*broker)->url(),
      .queue_path = dir.File("queue.db"),
      .sampling = {.interval_s = 0.05, .max_interval_s = 0.4, .deadband = 0.5, .heartbeat_s = 600},
      .reconnect_max_s = 1};
  options.sources.push_back(std::move(source));
  options.actuators["led"] = std::move(*led);
  auto agent = Agent::Start(std::move(options));
  ASSERT_TRUE(agent.ok()) << agent.status();

  // A steady value: sent once; sampling stretches to max_interval_s.
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*agent)->stats().interval_s == 0.4; }, milliseconds(10000)));
  level->value_ = 20.3;  // within the deadband
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(Values(recorder, "devices/dev-a/telemetry"), std::vector<double>{20});
  level->value_ = 21;  // beyond it: sent, and sampling is back at the base period
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Values(recorder, "devices/dev-a/telemetry").size() == 2; }, milliseconds(5000)));
  EXPECT_EQ(Values(recorder, "devices/dev-a/telemetry")[1], 21);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*agent)->stats().interval_s == 0.05; }, milliseconds(5000)));
  AgentStats s = (*agent)->stats();
  EXPECT_EQ(s.messages_published, 2u);
  EXPECT_GT(s.fixed_rate_messages, 10u);
  EXPECT_GT(s.samples, 4u);

  // The operator's desired state, retained as the gateway publishes it.
  auto op = mqtt::Client::Start({.url = (*broker)->url()}, nullptr);
  ASSERT_TRUE(op.ok());
  ASSERT_TRUE((*op)->WaitConnected(milliseconds(5000)).ok());
  ASSERT_TRUE((*op)
                  ->Publish("devices/dev-a/twin/desired",
                            R"({"version": 2, "state": {"led": true, "deadband": 0.1}})", 1, true)
                  .ok());
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*agent)->stats().twin_version == 2; }, milliseconds(5000)));
  std::ifstream brightness(dir.File("leds/status/brightness"));
  int on = -1;
  brightness >> on;
  EXPECT_EQ(on, 1);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        std::vector<json> reports = Parsed(recorder, "devices/dev-a/twin/reported");
        return !reports.empty() && reports.back().value("led", false) &&
               reports.back()["deadband"] == 0.1;
      },
      milliseconds(5000)));
  // A level no actuator takes (past what int64 holds, or negative) is refused; the LED stays on.
  int64_t version = 2;
  for (const char* bad : {"1e300", "-2"}) {
    ++version;
    const std::string delta =
        StrCat(R"({"version": )", version, R"(, "state": {"led": )", bad, "}}");
    ASSERT_TRUE((*op)->Publish("devices/dev-a/twin/delta", delta, 1).ok());
    ASSERT_TRUE(testing::WaitUntil([&] { return (*agent)->stats().twin_version == version; },
                                   milliseconds(5000)))
        << delta;
  }
  // An older delta is ignored.
  ASSERT_TRUE(
      (*op)
          ->Publish("devices/dev-a/twin/delta", R"({"version": 1, "state": {"led": false}})", 1)
          .ok());
  ASSERT_TRUE((*op)->WaitPublished(milliseconds(5000)).ok());
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ((*agent)->stats().twin_version, 4);
  std::ifstream again(dir.File("leds/status/brightness"));
  again >> on;
  EXPECT_EQ(on, 1);
  (*agent)->Stop();
  json summary = (*agent)->Summary();
  EXPECT_GT(summary["messages_saved_percent"].get<double>(), 50);
}

TEST(AgentTest, OfflineQueueSurvivesABrokerOutageAndAnAgentRestart) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({.work_dir = dir.File("broker"),
                                             .persistence = true,
                                             .extra_config = {"max_queued_messages 0"}});
  ASSERT_TRUE(broker.ok()) << broker.status();
  testing::MqttRecorder recorder((*broker)->url(), "devices/#", "recorder");
  auto counter = std::make_shared<std::atomic<double>>(0);
  auto start = [&] {
    AgentOptions options{.device_id = "dev-b",
                         .broker_url = (*broker)->url(),
                         .queue_path = dir.File("queue.db"),
                         .sampling = {.interval_s = 0.02},
                         .reconnect_max_s = 1};
    auto source = std::make_unique<TestSource>(/*count_up=*/true);
    source->value_ = counter->load();
    options.sources.push_back(std::move(source));
    return Agent::Start(std::move(options));
  };
  auto agent = start();
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Values(recorder, "devices/dev-b/telemetry").size() >= 5; }, milliseconds(5000)));
  // The broker goes away; the agent keeps sampling into its queue, and is then stopped too.
  ASSERT_TRUE((*broker)->Pause().ok());
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*agent)->stats().queued >= 20; }, milliseconds(10000)));
  (*agent)->Stop();
  uint64_t published = (*agent)->stats().readings_published;
  const uint64_t backlog = (*agent)->stats().queued;  // one reading per message here
  EXPECT_GE(backlog, 20u);
  agent->reset();
  *counter = static_cast<double>(published);  // the sensor goes on where it was

  // Both come back: the queue from before the restart drains first, then new samples follow.
  ASSERT_TRUE((*broker)->Resume().ok());
  agent = start();
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(testing::WaitUntil([&] { return (*agent)->stats().messages_sent >= backlog + 10; },
                                 milliseconds(20000)));
  (*agent)->Stop();
  published += (*agent)->stats().readings_published;
  const uint64_t left = (*agent)->stats().queued;  // sampled after the last send
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Values(recorder, "devices/dev-b/telemetry").size() + left >= published; },
      milliseconds(10000)));
  // In order, none missing; a repeat only where at-least-once allows.
  double next = 0;
  for (double v : Values(recorder, "devices/dev-b/telemetry")) {
    if (v < next) continue;
    ASSERT_EQ(v, next) << "a gap or a reorder";
    next = v + 1;
  }
  EXPECT_LE(next, static_cast<double>(published));
  EXPECT_GE(next + static_cast<double>(left), static_cast<double>(published));
}

TEST(AgentTest, SealedSessionsRenewAfterTheirMessageCount) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto device_key = security::PrivateKey::Generate(security::KeyType::kEd25519);
  auto gateway_key = security::PrivateKey::Generate(security::KeyType::kEd25519);
  // The gateway's side of the handshake, and a count of the sealed messages per session.
  std::mutex mu;
  std::map<std::string, int> per_session;
  std::unique_ptr<mqtt::Client> responder;
  auto client = mqtt::Client::Start(
      {.url = (*broker)->url(),
       .subscribe_topics = {"devices/dev-c/session/init", "devices/dev-c/telemetry"}},
      [&](std::string_view topic, std::string_view payload, int) {
        if (topic.ends_with("/session/init")) {
          auto accept = security::AcceptSession("dev-c", payload, device_key->Public(),
                                                *gateway_key, Clock::Real()->NowNs(), 60e9);
          ASSERT_TRUE(accept.ok()) << accept.status();
          ASSERT_TRUE(
              responder->Publish("devices/dev-c/session/accept", accept->accept_message, 1).ok());
          return;
        }
        auto e = security::ParseEnvelope(payload);
        ASSERT_TRUE(e.ok()) << e.status();
        ASSERT_EQ(e->mode, security::EnvelopeMode::kSealed);
        std::lock_guard lock(mu);
        ++per_session[std::string(e->session_id)];
      });
  ASSERT_TRUE(client.ok());
  responder = std::move(*client);
  ASSERT_TRUE(responder->WaitConnected(milliseconds(5000)).ok());
  AgentOptions options{.device_id = "dev-c",
                       .broker_url = (*broker)->url(),
                       .queue_path = dir.File("queue.db"),
                       .sampling = {.interval_s = 0.02},
                       .protection = AgentOptions::Protection::kSeal,
                       .key = *device_key,
                       .gateway_key = gateway_key->Public(),
                       .session_max_messages = 5,
                       .reconnect_max_s = 1};
  options.sources.push_back(std::make_unique<TestSource>(/*count_up=*/true));
  auto agent = Agent::Start(std::move(options));
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*agent)->stats().sessions >= 3; }, milliseconds(20000)));
  (*agent)->Stop();
  std::lock_guard lock(mu);
  EXPECT_GE(per_session.size(), 2u);
  // Renewal starts at the 5th message; the old session carries on until the new one is agreed
  // (one round trip), so a few more may go under it, not many.
  for (const auto& [session, count] : per_session) EXPECT_LE(count, 5 + 20) << "never renewed";
  responder->Stop();
}

TEST(AgentTest, RefusesABadIdAndNoSources) {
  testing::TempDir dir;
  EXPECT_EQ(Agent::Start({.device_id = "a b"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Agent::Start({.device_id = "ok", .queue_path = dir.File("q.db")}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgeway::device
