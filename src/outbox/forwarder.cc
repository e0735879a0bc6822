#include "edgeway/outbox/forwarder.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/strings.h"
#include "spdlog/spdlog.h"

namespace edgeway::outbox {

struct Forwarder::Impl {
  ForwarderOptions options;
  Forwarder* owner = nullptr;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<mqtt::Client> client;
  std::thread thread;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;                        // guarded by mu
  bool notified = false;                        // guarded by mu
  absl::flat_hash_map<int, int64_t> in_flight;  // guarded by mu: message id -> outbox seq
  std::vector<int64_t> acknowledged;            // guarded by mu: seqs to delete
  store::OutboxSize backlog;                    // guarded by mu

  void OnPublished(int mid, int reason) {
    {
      std::lock_guard lock(mu);
      auto it = in_flight.find(mid);
      if (it == in_flight.end()) return;
      if (reason >= 0x80) {
        owner->refused_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("upstream {} refused outbox message {} (reason {:#x}); dropped",
                     options.upstream.url, it->second, reason);
      }
      acknowledged.push_back(it->second);
      in_flight.erase(it);
    }
    cv.notify_all();
  }

  // Deletes what the upstream acknowledged. Called on the forwarder thread only.
  void DeleteAcknowledged() {
    std::vector<int64_t> done;
    {
      std::lock_guard lock(mu);
      done.swap(acknowledged);
    }
    if (done.empty()) return;
    if (absl::Status s = store->OutboxDelete(done); !s.ok()) {
      // Kept: they go out again after a restart (a duplicate, never a loss).
      spdlog::error("outbox: {}", s.message());
      return;
    }
    owner->forwarded_.fetch_add(done.size(), std::memory_order_relaxed);
  }

  void Run() {
    int64_t last_sent = 0;  // outbox seq of the newest message handed to the client
    double tokens = 0;
    int64_t last_refill = MonotonicNs();
    int64_t next_size_check = 0;
    const double rate = options.max_messages_per_s;
    while (true) {
      DeleteAcknowledged();
      const int64_t now = MonotonicNs();
      if (now >= next_size_check) {
        ReadBacklog();
        next_size_check = now + 500 * kNsPerMs;
      }
      size_t room = 0;
      {
        std::lock_guard lock(mu);
        if (stopping) break;
        room = options.max_in_flight - std::min(options.max_in_flight, in_flight.size());
      }
      if (rate > 0) {
        tokens = std::min(std::max(rate, 1.0),
                          tokens + rate * static_cast<double>(now - last_refill) / 1e9);
        last_refill = now;
        room = std::min(room, static_cast<size_t>(tokens));
      }
      size_t sent = 0;
      if (room > 0 && client->connected()) {
        auto rows = store->OutboxNext(last_sent, static_cast<int64_t>(room));
        if (!rows.ok()) {
          spdlog::error("outbox: {}", rows.status().message());
        } else {
          for (const store::OutboxRow& row : *rows) {
            std::optional<std::string> transformed;
            if (options.transform) {
              transformed = options.transform(row);
              if (!transformed) break;  // held back; try again shortly
            }
            // Under the lock, so that the acknowledgement cannot overtake the bookkeeping.
            std::lock_guard lock(mu);
            int mid = 0;
            if (!client
                     ->Publish(row.topic, transformed ? *transformed : row.payload, options.qos,
                               false, &mid)
                     .ok()) {
              break;
            }
            in_flight[mid] = row.seq;
            last_sent = row.seq;
            ++sent;
          }
        }
        if (rate > 0) tokens -= static_cast<double>(sent);
      }
      if (sent == 0 || sent < room) {
        // Nothing (more) to send now: wait for an acknowledgement, new rows, or a reconnect.
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::milliseconds(50),
                    [&] { return stopping || notified || !acknowledged.empty(); });
        notified = false;
      }
    }
    DeleteAcknowledged();
    ReadBacklog();
  }

  void ReadBacklog() {
    auto size = store->GetOutboxSize();
    if (!size.ok()) return;
    std::lock_guard lock(mu);
    backlog = *size;
  }
};

Forwarder::Forwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->owner = this; }

absl::StatusOr<std::unique_ptr<Forwarder>> Forwarder::Start(ForwarderOptions options) {
  if (options.qos < 1 || options.qos > 2) {
    return absl::InvalidArgumentError(
        "upstream qos must be 1 or 2: the outbox needs acknowledgements");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  auto store = store::Store::Open({.path = impl->options.store_path});
  if (!store.ok()) return store.status();
  impl->store = std::move(*store);
  std::unique_ptr<Forwarder> forwarder(new Forwarder(std::move(impl)));
  Impl* p = forwarder->impl_.get();
  mqtt::ClientOptions upstream = p->options.upstream;
  upstream.on_published = [p](int mid, int reason) { p->OnPublished(mid, reason); };
  auto client = mqtt::Client::Start(std::move(upstream), p->options.on_message);
  if (!client.ok()) return client.status();
  p->client = std::move(*client);
  p->thread = std::thread([p] { p->Run(); });
  return forwarder;
}

Forwarder::~Forwarder() { Stop(); }

void Forwarder::Notify() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->notified = true;
  }
  impl_->cv.notify_all();
}

void Forwarder::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->client) impl_->client->Stop();
}

absl::Status Forwarder::PublishNow(std::string_view topic, std::string_view payload, int qos) {
  return impl_->client->Publish(topic, payload, qos);
}

store::OutboxSize Forwarder::backlog() const {
  std::lock_guard lock(impl_->mu);
  return impl_->backlog;
}

bool Forwarder::connected() const { return impl_->client && impl_->client->connected(); }

}  // namespace edgeway::outbox
