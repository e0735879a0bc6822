#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/store/store.h"

namespace edgeway::outbox {

struct ForwarderOptions {
  std::string store_path;         // the store whose outbox table to drain
  mqtt::ClientOptions upstream;   // url, client id, TLS
  int qos = 1;                    // 1 or 2: a message leaves the outbox only once acknowledged
  double max_messages_per_s = 0;  // drain rate limit; 0: as fast as the broker acknowledges
  size_t max_in_flight = 256;     // published, not yet acknowledged
  // For messages on upstream.subscribe_topics: the same session can receive (a device agent's
  // twin deltas).
  mqtt::MessageHandler on_message;
  // Called on the forwarder thread just before a message is sent: what to send instead of the
  // stored payload (a device signs or encrypts here, with a fresh sequence number), or nullopt
  // to hold the outbox back for now (no session yet).
  std::function<std::optional<std::string>(const store::OutboxRow&)> transform;
};

// Drains the store's outbox to an upstream MQTT broker: at least once (a message is deleted
// only after the broker acknowledged it), in outbox order, which keeps each device's order.
// Runs its own thread and store connection, and starts sending as soon as the upstream is
// reachable, whether or not anything new arrives. After a lost connection libmosquitto sends the
// unacknowledged messages again; after a restart, whatever was not deleted is sent again, so the
// upstream may see a message twice but never loses one. Thread-safe.
class Forwarder {
 public:
  // Opens the store and starts connecting. Errors name the store or the URL.
  static absl::StatusOr<std::unique_ptr<Forwarder>> Start(ForwarderOptions options);
  ~Forwarder();

  // Wakes the forwarder: something new was committed.
  void Notify();
  // Publishes outside the outbox, on the same session (a handshake message).
  absl::Status PublishNow(std::string_view topic, std::string_view payload, int qos);
  // Stops sending, deletes what was acknowledged, disconnects. Idempotent.
  void Stop();

  uint64_t forwarded() const { return forwarded_.load(std::memory_order_relaxed); }
  // Acknowledged with an error reason (not authorised, say): deleted, counted, logged.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // The outbox as last read (every half second).
  store::OutboxSize backlog() const;
  bool connected() const;

 private:
  struct Impl;
  explicit Forwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> forwarded_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace edgeway::outbox
