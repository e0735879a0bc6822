#pragma once

#include <chrono>
#include <memory>

#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "gtest/gtest.h"

namespace edgeway::testing {

// A test with a real mosquitto of its own, on a free port, and a client connected to it to
// publish with.
class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = mqtt::EmbeddedBroker::Start({});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
    auto publisher = mqtt::Client::Start({.url = broker_->url()}, nullptr);
    ASSERT_TRUE(publisher.ok());
    publisher_ = std::move(*publisher);
    ASSERT_TRUE(publisher_->WaitConnected(std::chrono::milliseconds(5000)).ok());
  }

  std::unique_ptr<mqtt::EmbeddedBroker> broker_;
  std::unique_ptr<mqtt::Client> publisher_;
};

}  // namespace edgeway::testing
