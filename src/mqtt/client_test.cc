// Tests against a real mosquitto started on a free port.
#include "edgeway/mqtt/client.h"

#include <condition_variable>
#include <mutex>
#include <set>

#include "edgeway/mqtt/broker.h"
#include "gtest/gtest.h"

namespace edgeway::mqtt {
namespace {

using std::chrono::milliseconds;

TEST(ParseBrokerUrlTest, SchemesHostsAndPorts) {
  auto a = ParseBrokerUrl("tcp://127.0.0.1:1884");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 1884);
  EXPECT_FALSE(a->tls);
  auto b = ParseBrokerUrl("ssl://broker.example");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port, 8883);
  EXPECT_TRUE(b->tls);
  auto c = ParseBrokerUrl("mqtt://[::1]:1999");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 1999);
  EXPECT_EQ(ParseBrokerUrl("localhost:1883").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBrokerUrl("http://x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseBrokerUrl("tcp://x:99999").status().code(), absl::StatusCode::kInvalidArgument);
}

// Collects payloads delivered on the network thread.
class Inbox {
 public:
  MessageHandler Handler() {
    return [this](std::string_view, std::string_view payload, int) {
      std::lock_guard lock(mu_);
      payloads_.insert(std::string(payload));
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return payloads_.size() >= n; });
  }
  std::set<std::string> payloads() {
    std::lock_guard lock(mu_);
    return payloads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> payloads_;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = EmbeddedBroker::Start({});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
  }
  std::unique_ptr<Client> Connect(ClientOptions options, MessageHandler handler = nullptr) {
    options.url = broker_->url();
    auto client = Client::Start(std::move(options), std::move(handler));
    EXPECT_TRUE(client.ok()) << client.status();
    EXPECT_TRUE((*client)->WaitConnected(milliseconds(5000)).ok());
    return std::move(*client);
  }
  std::unique_ptr<EmbeddedBroker> broker_;
};

TEST_F(ClientTest, PublishesAndReceivesAtQos1) {
  Inbox inbox;
  auto sub = Connect({.subscribe_topics = {"t/#"}}, inbox.Handler());
  auto pub = Connect({});
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pub->Publish("t/a", std::to_string(i), 1).ok());
  ASSERT_TRUE(pub->WaitPublished(milliseconds(5000)).ok());
  ASSERT_TRUE(inbox.WaitFor(100, milliseconds(5000)));
  EXPECT_EQ(inbox.payloads().size(), 100u);
}

TEST_F(ClientTest, PersistentSessionReceivesWhatWasPublishedWhileAway) {
  ClientOptions persistent{.client_id = "gw-test",
                           .clean_start = false,
                           .session_expiry_s = 600,
                           .subscribe_topics = {"t/#"}};
  {
    Inbox first;
    auto sub = Connect(persistent, first.Handler());
  }  // disconnects; the session stays at the broker
  auto pub = Connect({});
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(pub->Publish("t/a", std::to_string(i), 1).ok());
  ASSERT_TRUE(pub->WaitPublished(milliseconds(5000)).ok());
  Inbox second;
  auto sub = Connect(persistent, second.Handler());
  ASSERT_TRUE(second.WaitFor(50, milliseconds(5000))) << second.payloads().size();
}

TEST_F(ClientTest, ReconnectsAndResubscribesAfterBrokerRestart) {
  Inbox inbox;
  auto sub = Connect({.reconnect_min_s = 1, .reconnect_max_s = 1, .subscribe_topics = {"t/#"}},
                     inbox.Handler());
  ASSERT_TRUE(broker_->Pause().ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sub->connected() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_FALSE(sub->connected());
  ASSERT_TRUE(broker_->Resume().ok());
  ASSERT_TRUE(sub->WaitConnected(milliseconds(10000)).ok());
  auto pub = Connect({});
  ASSERT_TRUE(pub->Publish("t/b", "after", 1).ok());
  ASSERT_TRUE(inbox.WaitFor(1, milliseconds(5000)));
  EXPECT_GE(sub->connects(), 2u);
}

TEST(EmbeddedBrokerTest, MissingExecutableIsNotFound) {
  auto broker = EmbeddedBroker::Start({.executable = "/nonexistent/mosquitto"});
  EXPECT_EQ(broker.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace edgeway::mqtt
