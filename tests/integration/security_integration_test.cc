// Authenticated telemetry end to end, with the edgeway binary, a real mosquitto and real keys:
// devices that sign and devices that seal (a session by X25519 handshake) get through a gateway
// that requires it; plain, replayed, tampered and revoked messages are refused and counted by
// reason, and the valid traffic around them still flows. The replay high-water mark survives a
// gateway restart.
#include <fstream>
#include <mutex>

#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/store/store.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway {
namespace {

using std::chrono::milliseconds;
using testing::EdgewayBinary;
using testing::Process;
using testing::WaitUntil;

constexpr milliseconds kLong(30000);

class SecurityIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = mqtt::EmbeddedBroker::Start({});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
    auto spy =
        mqtt::Client::Start({.url = broker_->url(), .subscribe_topics = {"devices/+/telemetry"}},
                            [this](std::string_view topic, std::string_view payload, int) {
                              std::lock_guard lock(mu_);
                              seen_[std::string(topic)].emplace_back(payload);
                            });
    ASSERT_TRUE(spy.ok());
    spy_ = std::move(*spy);
    ASSERT_TRUE(spy_->WaitConnected(milliseconds(5000)).ok());
    std::ofstream(dir_.File("edgeway.yaml")) << "security:\n  require: authenticated\n";
  }

  int Run(std::vector<std::string> args, const std::string& tag) {
    args.insert(args.begin(), EdgewayBinary());
    Process p(args, dir_.File(tag + ".out"));
    int code = p.Wait(kLong);
    EXPECT_NE(code, -1) << tag;
    return code;
  }

  std::unique_ptr<Process> StartGateway(const std::string& tag) {
    auto gw = std::make_unique<Process>(
        std::vector<std::string>{EdgewayBinary(), "run", "-c", dir_.File("edgeway.yaml"),
                                 "--broker", broker_->url(), "--store", db_, "--http", "off",
                                 "--summary-json", dir_.File(tag + ".json")},
        dir_.File(tag + ".log"));
    EXPECT_TRUE(WaitUntil(
        [&] { return gw->output().find("gateway subscribed") != std::string::npos; }, kLong))
        << gw->output();
    return gw;
  }

  nlohmann::json Stop(Process& gw, const std::string& tag) {
    gw.Signal(SIGTERM);
    EXPECT_EQ(gw.Wait(kLong), 0) << gw.output();
    std::ifstream in(dir_.File(tag + ".json"));
    return nlohmann::json::parse(in, nullptr, false);
  }

  std::unique_ptr<Process> StartDevice(const std::string& id, const std::string& protect) {
    return std::make_unique<Process>(
        std::vector<std::string>{EdgewayBinary(), "device", "--broker", broker_->url(), "--id", id,
                                 "--simulated", "--interval", "0.05", "--key",
                                 dir_.File(id + ".key"), "--protect", protect, "--queue",
                                 dir_.File(id + ".db")},
        dir_.File(id + ".log"));
  }

  int64_t Stored(const std::string& device) {
    auto store = store::Store::Open({.path = db_, .read_only = true});
    if (!store.ok()) return -1;
    auto r = (*store)->Readings({.device_id = device, .limit = 10000});
    return r.ok() ? static_cast<int64_t>(r->size()) : -1;
  }

  std::string Captured(const std::string& device) {
    std::lock_guard lock(mu_);
    auto& v = seen_["devices/" + device + "/telemetry"];
    return v.empty() ? "" : v.back();
  }

  void Publish(const std::string& topic, const std::string& payload) {
    ASSERT_TRUE(spy_->Publish(topic, payload, 1).ok());
    ASSERT_TRUE(spy_->WaitPublished(kLong).ok());
  }

  testing::TempDir dir_;
  std::string db_ = dir_.File("edgeway.db");
  std::unique_ptr<mqtt::EmbeddedBroker> broker_;
  std::unique_ptr<mqtt::Client> spy_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> seen_;
};

TEST_F(SecurityIntegrationTest, SignedAndSealedPassForgeriesAndReplaysAreRefusedAndCounted) {
  for (auto [id, type] : {std::pair{"signer", "ecdsa-p256"}, {"sealer", "ed25519"}}) {
    ASSERT_EQ(Run({"keys", "gen", "--type", type, "--key", dir_.File(std::string(id) + ".key")},
                  std::string("gen-") + id),
              0);
    ASSERT_EQ(Run({"keys", "provision", id, "--pub", dir_.File(std::string(id) + ".key.pub"),
                   "--store", db_},
                  std::string("provision-") + id),
              0);
  }
  auto gw = StartGateway("first");
  auto signer = StartDevice("signer", "sign");
  auto sealer = StartDevice("sealer", "seal");
  ASSERT_TRUE(WaitUntil([&] { return Stored("signer") >= 10 && Stored("sealer") >= 10; }, kLong))
      << gw->output() << signer->output() << sealer->output();

  // A plain message, a replay of each device's last message, and tampered copies.
  Publish("devices/plain-1/telemetry", R"({"temperature": 20})");
  Publish("devices/signer/twin/reported", R"({"forged": true})");
  const std::string signed_msg = Captured("signer"), sealed_msg = Captured("sealer");
  ASSERT_FALSE(signed_msg.empty());
  ASSERT_FALSE(sealed_msg.empty());
  Publish("devices/signer/telemetry", signed_msg);
  Publish("devices/sealer/telemetry", sealed_msg);
  // A forgery needs a fresh sequence number (or it is a replay first): change the number's top
  // byte (5 + id length: its offset in the envelope); the signature or tag then fails.
  std::string forged = signed_msg;
  forged[5 + 6] ^= 0x01;
  Publish("devices/signer/telemetry", forged);
  std::string tampered = sealed_msg;
  tampered[5 + 6] ^= 0x01;
  Publish("devices/sealer/telemetry", tampered);
  // Valid traffic keeps flowing around them.
  const int64_t before = Stored("signer");
  ASSERT_TRUE(WaitUntil([&] { return Stored("signer") > before + 10; }, kLong));
  nlohmann::json s1 = Stop(*gw, "first");
  EXPECT_GE(s1["rejected"]["unauthenticated"].get<int>(), 2);
  EXPECT_GE(s1["rejected"]["replay"].get<int>(), 2);
  EXPECT_GE(s1["rejected"]["bad_signature"].get<int>(), 1);
  EXPECT_GE(s1["rejected"]["bad_tag"].get<int>(), 1);
  EXPECT_GE(s1["sessions"].get<int>(), 1);
  EXPECT_GT(s1["authenticated"].get<int>(), 20);
  EXPECT_EQ(Stored("plain-1"), 0);
  // Twin reports are held to the same rule: the devices' own (signed or sealed) reached their
  // twins, the plain forgery did not.
  {
    auto store = store::Store::Open({.path = db_, .read_only = true});
    ASSERT_TRUE(store.ok());
    auto twins = (*store)->LoadTwins();
    ASSERT_TRUE(twins.ok());
    std::map<std::string, nlohmann::json> by_device;
    for (const auto& [device, doc] : *twins) by_device[device] = nlohmann::json::parse(doc);
    for (const char* id : {"signer", "sealer"}) {
      const nlohmann::json& reported = by_device[id]["state"]["reported"];
      EXPECT_TRUE(reported.contains("interval_s")) << id << ": " << reported;
      EXPECT_FALSE(reported.contains("forged")) << id;
    }
  }

  // The high-water marks survive the restart: the old message is still a replay.
  gw = StartGateway("second");
  Publish("devices/signer/telemetry", signed_msg);
  // Revocation takes effect while running (the registry is re-read within 2 s).
  ASSERT_EQ(Run({"keys", "revoke", "signer", "--store", db_}, "revoke"), 0);
  std::this_thread::sleep_for(milliseconds(3000));
  const int64_t after_revoke = Stored("signer");
  const int64_t sealer_before = Stored("sealer");
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_LE(Stored("signer"), after_revoke + 1);  // at most one in flight at the revocation
  EXPECT_GT(Stored("sealer"), sealer_before);     // the other device is unaffected
  nlohmann::json s2 = Stop(*gw, "second");
  EXPECT_GE(s2["rejected"]["replay"].get<int>(), 1);
  EXPECT_GE(s2["rejected"]["revoked"].get<int>(), 1);
  signer->Signal(SIGTERM);
  sealer->Signal(SIGTERM);
  EXPECT_EQ(signer->Wait(kLong), 0) << signer->output();
  EXPECT_EQ(sealer->Wait(kLong), 0) << sealer->output();
}

}  // namespace
}  // namespace edgeway
