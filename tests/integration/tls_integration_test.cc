// mTLS to the broker: certificates from edgeway certs, the embedded mosquitto's TLS listener
// requiring client certificates, and libmosquitto clients with a valid certificate, none, and
// one from another CA.
#include <atomic>
#include <filesystem>

#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/security/certs.h"
#include "gtest/gtest.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway {
namespace {

using std::chrono::milliseconds;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(security::MakeCertificates({.dir = dir_.File("pki"), .clients = {"board-1"}}).ok());
    ASSERT_TRUE(
        security::MakeCertificates({.dir = dir_.File("other"), .clients = {"mallory"}}).ok());
    auto broker = mqtt::EmbeddedBroker::Start(
        {.tls = mqtt::BrokerOptions::Tls{.ca_file = dir_.File("pki/ca.crt"),
                                         .cert_file = dir_.File("pki/broker.crt"),
                                         .key_file = dir_.File("pki/broker.key")}});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
  }

  // Whether a client with these files gets connected within 3 s.
  bool Connects(const std::string& ca, const std::string& cert, const std::string& key,
                const std::string& id) {
    auto client = mqtt::Client::Start({.url = broker_->tls_url(),
                                       .client_id = id,
                                       .tls_ca_file = ca,
                                       .tls_cert_file = cert,
                                       .tls_key_file = key},
                                      nullptr);
    if (!client.ok()) return false;
    return (*client)->WaitConnected(milliseconds(3000)).ok();
  }

  testing::TempDir dir_;
  std::unique_ptr<mqtt::EmbeddedBroker> broker_;
};

TEST_F(TlsTest, CertificateFilesAreWrittenWithPrivateKeysMode0600) {
  for (const char* name : {"ca", "broker", "board-1"}) {
    auto perms =
        std::filesystem::status(dir_.File(std::string("pki/") + name + ".key")).permissions();
    EXPECT_EQ(perms & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)
        << name;
    EXPECT_TRUE(std::filesystem::exists(dir_.File(std::string("pki/") + name + ".crt")));
  }
}

TEST_F(TlsTest, ValidClientCertificateConnectsAndPublishes) {
  std::atomic<int> received{0};
  auto sub = mqtt::Client::Start({.url = broker_->url(), .subscribe_topics = {"devices/#"}},
                                 [&](std::string_view, std::string_view, int) { ++received; });
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->WaitConnected(milliseconds(5000)).ok());
  auto client = mqtt::Client::Start({.url = broker_->tls_url(),
                                     .client_id = "board-1",
                                     .tls_ca_file = dir_.File("pki/ca.crt"),
                                     .tls_cert_file = dir_.File("pki/board-1.crt"),
                                     .tls_key_file = dir_.File("pki/board-1.key")},
                                    nullptr);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->WaitConnected(milliseconds(5000)).ok());
  ASSERT_TRUE((*client)->Publish("devices/board-1/telemetry", R"({"t": 1})", 1).ok());
  EXPECT_TRUE(testing::WaitUntil([&] { return received.load() == 1; }, milliseconds(5000)));
}

TEST_F(TlsTest, NoCertificateOrAnotherCasIsRefused) {
  EXPECT_FALSE(Connects(dir_.File("pki/ca.crt"), "", "", "anonymous"));
  EXPECT_FALSE(Connects(dir_.File("pki/ca.crt"), dir_.File("other/mallory.crt"),
                        dir_.File("other/mallory.key"), "mallory"));
  // And a client that does not trust this broker's CA refuses the broker.
  EXPECT_FALSE(Connects(dir_.File("other/ca.crt"), dir_.File("pki/board-1.crt"),
                        dir_.File("pki/board-1.key"), "board-1"));
  // The same certificate as the valid test, for contrast.
  EXPECT_TRUE(Connects(dir_.File("pki/ca.crt"), dir_.File("pki/board-1.crt"),
                       dir_.File("pki/board-1.key"), "board-1"));
}

}  // namespace
}  // namespace edgeway
