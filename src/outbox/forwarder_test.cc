// The forwarder against real mosquitto brokers and a real SQLite outbox.
#include "edgeway/outbox/forwarder.h"

#include <mutex>

#include "edgeway/mqtt/broker.h"
#include "gtest/gtest.h"
#include "testing/mqtt_recorder.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace edgeway::outbox {
namespace {

using std::chrono::milliseconds;

void Enqueue(store::Store* store, int from, int to) {
  ResultBatch batch;
  for (int i = from; i < to; ++i) {
    std::string device = "d" + std::to_string(i % 3);
    batch.outbox.push_back(
        {.device_id = device, .topic = "up/" + device + "/senml", .payload = std::to_string(i)});
  }
  ASSERT_TRUE(store->Write(batch).ok());
}

TEST(ForwarderTest, DrainsInOrderAndEmptiesTheOutbox) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  testing::MqttRecorder recorder((*broker)->url(), "#");
  auto store = store::Store::Open({.path = dir.File("o.db")});
  ASSERT_TRUE(store.ok());
  Enqueue(store->get(), 0, 1000);
  auto forwarder = Forwarder::Start(
      {.store_path = dir.File("o.db"), .upstream = {.url = (*broker)->url()}, .max_in_flight = 50});
  ASSERT_TRUE(forwarder.ok()) << forwarder.status();
  ASSERT_TRUE(testing::WaitUntil([&] { return recorder.count() == 1000; }, milliseconds(20000)));
  auto got = recorder.messages();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(got[i].second, std::to_string(i));
    ASSERT_EQ(got[i].first, "up/d" + std::to_string(i % 3) + "/senml");
  }
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*forwarder)->forwarded() == 1000; }, milliseconds(5000)));
  EXPECT_EQ((*store)->GetOutboxSize()->messages, 0);
  EXPECT_EQ((*forwarder)->refused(), 0u);
}

TEST(ForwarderTest, StartsDrainingWhenTheUpstreamReturnsWithoutNewTraffic) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  ASSERT_TRUE((*broker)->Pause().ok());
  auto store = store::Store::Open({.path = dir.File("o.db")});
  ASSERT_TRUE(store.ok());
  auto forwarder = Forwarder::Start({.store_path = dir.File("o.db"),
                                     .upstream = {.url = (*broker)->url(), .reconnect_max_s = 1}});
  ASSERT_TRUE(forwarder.ok()) << forwarder.status();
  Enqueue(store->get(), 0, 300);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE((*forwarder)->connected());
  EXPECT_EQ((*forwarder)->forwarded(), 0u);
  EXPECT_EQ((*store)->GetOutboxSize()->messages, 300);

  ASSERT_TRUE((*broker)->Resume().ok());
  testing::MqttRecorder recorder((*broker)->url(), "#");
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*forwarder)->forwarded() == 300; }, milliseconds(20000)));
  EXPECT_EQ((*store)->GetOutboxSize()->messages, 0);
}

TEST(ForwarderTest, RateLimitSpreadsTheDrain) {
  testing::TempDir dir;
  auto broker = mqtt::EmbeddedBroker::Start({});
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto store = store::Store::Open({.path = dir.File("o.db")});
  Enqueue(store->get(), 0, 60);
  auto forwarder = Forwarder::Start({.store_path = dir.File("o.db"),
                                     .upstream = {.url = (*broker)->url()},
                                     .max_messages_per_s = 20});
  ASSERT_TRUE(forwarder.ok());
  // At 20 messages/s, 60 take about 3 s: after 0.2 s most are still waiting.
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_LT((*forwarder)->forwarded(), 50u);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return (*forwarder)->forwarded() == 60; }, milliseconds(10000)));
}

TEST(ForwarderTest, QosZeroIsRefused) {
  auto forwarder = Forwarder::Start({.store_path = "unused.db", .qos = 0});
  EXPECT_EQ(forwarder.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgeway::outbox
