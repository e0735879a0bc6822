#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "edgeway/mqtt/client.h"
#include "gtest/gtest.h"

namespace edgeway::testing {

// Subscribes to `filter` on a broker and keeps every message in arrival order. With a client id
// the session is persistent, so what is published while it reconnects (a broker restart) is
// still delivered to it.
class MqttRecorder {
 public:
  MqttRecorder(const std::string& url, const std::string& filter,
               const std::string& client_id = "") {
    auto client =
        mqtt::Client::Start({.url = url,
                             .client_id = client_id,
                             .clean_start = client_id.empty(),
                             .session_expiry_s = client_id.empty() ? 0u : 3600u,
                             .reconnect_max_s = 1,
                             .subscribe_topics = {filter}},
                            [this](std::string_view topic, std::string_view payload, int) {
                              std::lock_guard lock(mu_);
                              messages_.emplace_back(std::string(topic), std::string(payload));
                            });
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return;
    client_ = std::move(*client);
    EXPECT_TRUE(client_->WaitConnected(std::chrono::milliseconds(5000)).ok());
  }

  // (topic, payload) pairs.
  std::vector<std::pair<std::string, std::string>> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return messages_.size();
  }
  // The payloads received on `topic`.
  std::vector<std::string> payloads(const std::string& topic) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [t, p] : messages_) {
      if (t == topic) out.push_back(p);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> messages_;
  std::unique_ptr<mqtt::Client> client_;
};

}  // namespace edgeway::testing
