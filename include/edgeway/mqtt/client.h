#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgeway::mqtt {

// host and port of a broker URL: tcp://host:port, mqtt://host:port, ssl://host:port or
// mqtts://host:port (port defaults to 1883, or 8883 with TLS).
struct BrokerAddress {
  std::string host;
  int port = 1883;
  bool tls = false;
};
absl::StatusOr<BrokerAddress> ParseBrokerUrl(std::string_view url);

// Whether `topic` matches the subscription `filter` (+ and # wildcards), as the broker decides.
bool TopicMatches(const std::string& filter, const std::string& topic);

struct ClientOptions {
  std::string url = "tcp://127.0.0.1:1883";
  std::string client_id;  // empty: the broker assigns one (then clean_start must be true)
  // false keeps the session (subscriptions and queued QoS 1 messages) at the broker while the
  // client is away, for session_expiry_s seconds.
  bool clean_start = true;
  uint32_t session_expiry_s = 0;
  int keepalive_s = 30;
  int reconnect_min_s = 1;  // exponential backoff between these bounds
  int reconnect_max_s = 30;
  std::vector<std::string> subscribe_topics;  // (re)subscribed on every connect
  int subscribe_qos = 1;
  // TLS (ssl:// URLs): CA bundle, and an optional client certificate and key.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Called on the network thread when the broker has acknowledged a QoS 1/2 message, with the
  // message id Publish returned and the MQTT 5 reason code (>= 0x80: the broker refused it).
  // After a lost connection libmosquitto sends unacknowledged messages again, in order, with
  // the same ids.
  std::function<void(int mid, int reason)> on_published;
};

// Called on the client's network thread for every message received.
using MessageHandler =
    std::function<void(std::string_view topic, std::string_view payload, int qos)>;

// An MQTT 5 client over libmosquitto with its own network thread. The session survives broker
// restarts and network loss: the thread reconnects with backoff and restores subscriptions.
// Publish is thread-safe; the handler runs on the network thread and must not block for long
// (blocking it back-pressures the broker, which is the intent of OverflowPolicy::kBlock).
class Client {
 public:
  // Creates the client and starts connecting in the background. Errors: InvalidArgument for a
  // bad URL or option.
  static absl::StatusOr<std::unique_ptr<Client>> Start(ClientOptions options,
                                                       MessageHandler handler);
  // Disconnects cleanly and joins the network thread.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Waits until connected and subscribed. DeadlineExceeded when `timeout` passes first.
  absl::Status WaitConnected(std::chrono::milliseconds timeout);

  // Queues a message. Unavailable when the client is not connected (QoS 0 would be lost);
  // QoS 1 and 2 messages are kept by libmosquitto while reconnecting only once queued.
  absl::Status Publish(std::string_view topic, std::string_view payload, int qos,
                       bool retain = false, int* mid = nullptr);

  // Waits until every QoS 1/2 message published so far has been acknowledged.
  absl::Status WaitPublished(std::chrono::milliseconds timeout);

  // Disconnects and stops the network thread; idempotent.
  void Stop();

  bool connected() const { return connected_.load(std::memory_order_acquire); }
  uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> connects_{0};
};

}  // namespace edgeway::mqtt
