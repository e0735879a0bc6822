#include "edgeway/mqtt/client.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <charconv>
#include <condition_variable>
#include <mutex>

#include "edgeway/core/strings.h"
#include "spdlog/spdlog.h"

namespace edgeway::mqtt {

absl::StatusOr<BrokerAddress> ParseBrokerUrl(std::string_view url) {
  BrokerAddress address;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat(
        "broker URL '", url, "' has no scheme: expected tcp://host:port or ssl://host:port"));
  }
  std::string_view scheme = url.substr(0, scheme_end);
  if (scheme == "tcp" || scheme == "mqtt") {
    address.tls = false;
  } else if (scheme == "ssl" || scheme == "mqtts" || scheme == "tls") {
    address.tls = true;
    address.port = 8883;
  } else {
    return absl::InvalidArgumentError(
        StrCat("broker URL '", url, "': unknown scheme '", scheme, "' (use tcp:// or ssl://)"));
  }
  std::string_view rest = url.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  // host, [v6-host], host:port or [v6-host]:port
  size_t host_end = rest.size();
  size_t colon = std::string_view::npos;
  if (rest.starts_with('[')) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(StrCat("broker URL '", url, "': unclosed '['"));
    }
    if (close + 1 < rest.size() && rest[close + 1] == ':') colon = close + 1;
    rest = rest.substr(1);
    host_end = close - 1;
    if (colon != std::string_view::npos) --colon;
  } else {
    colon = rest.rfind(':');
    if (colon != std::string_view::npos) host_end = colon;
  }
  if (colon != std::string_view::npos) {
    std::string_view port_text = rest.substr(colon + 1);
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port <= 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          StrCat("broker URL '", url, "': bad port '", port_text, "'"));
    }
    address.port = port;
  }
  rest = rest.substr(0, host_end);
  if (rest.empty()) return absl::InvalidArgumentError(StrCat("broker URL '", url, "' has no host"));
  address.host = std::string(rest);
  return address;
}

bool TopicMatches(const std::string& filter, const std::string& topic) {
  bool result = false;
  return mosquitto_topic_matches_sub(filter.c_str(), topic.c_str(), &result) == MOSQ_ERR_SUCCESS &&
         result;
}

namespace {

std::once_flag lib_init_once;

absl::Status MosqError(int rc, std::string_view what) {
  std::string message = StrCat(what, ": ", mosquitto_strerror(rc));
  if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_MALFORMED_UTF8) {
    return absl::InvalidArgumentError(message);
  }
  if (rc == MOSQ_ERR_NOMEM) return absl::ResourceExhaustedError(message);
  return absl::UnavailableError(message);
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  MessageHandler handler;
  BrokerAddress address;
  mosquitto* mosq = nullptr;
  Client* owner = nullptr;
  bool loop_started = false;
  bool stopped = false;

  std::mutex mu;
  std::condition_variable cv;
  bool subscribed = false;   // guarded by mu
  int64_t pending_acks = 0;  // guarded by mu: QoS>0 messages published, not yet acknowledged

  static void OnConnect(mosquitto* m, void* self, int rc, int /*flags*/,
                        const mosquitto_property*) {
    auto* impl = static_cast<Impl*>(self);
    if (rc != 0) {
      spdlog::warn("mqtt {}: connect refused: {}", impl->options.url, mosquitto_reason_string(rc));
      return;
    }
    impl->owner->connects_.fetch_add(1, std::memory_order_relaxed);
    if (impl->owner->connects() > 1) spdlog::info("mqtt {}: reconnected", impl->options.url);
    impl->owner->connected_.store(true, std::memory_order_release);
    const std::vector<std::string>& topics = impl->options.subscribe_topics;
    if (topics.empty()) {
      impl->MarkSubscribed();
      return;
    }
    std::vector<char*> names;
    for (const std::string& topic : topics) names.push_back(const_cast<char*>(topic.c_str()));
    int src = mosquitto_subscribe_multiple(m, nullptr, static_cast<int>(names.size()), names.data(),
                                           impl->options.subscribe_qos, 0, nullptr);
    if (src != MOSQ_ERR_SUCCESS) spdlog::warn("mqtt: subscribe: {}", mosquitto_strerror(src));
  }

  static void OnSubscribe(mosquitto*, void* self, int /*mid*/, int /*count*/,
                          const int* /*granted*/, const mosquitto_property*) {
    static_cast<Impl*>(self)->MarkSubscribed();
  }

  void MarkSubscribed() {
    {
      std::lock_guard lock(mu);
      subscribed = true;
    }
    cv.notify_all();
  }

  static void OnDisconnect(mosquitto*, void* self, int rc, const mosquitto_property*) {
    auto* impl = static_cast<Impl*>(self);
    impl->owner->connected_.store(false, std::memory_order_release);
    {
      std::lock_guard lock(impl->mu);
      impl->subscribed = false;
    }
    if (rc != 0) spdlog::warn("mqtt {}: connection lost ({}); reconnecting", impl->options.url, rc);
  }

  static void OnMessage(mosquitto*, void* self, const mosquitto_message* msg,
                        const mosquitto_property*) {
    auto* impl = static_cast<Impl*>(self);
    impl->handler(std::string_view(msg->topic),
                  std::string_view(static_cast<const char*>(msg->payload),
                                   static_cast<size_t>(msg->payloadlen)),
                  msg->qos);
  }

  static void OnPublish(mosquitto*, void* self, int mid, int reason, const mosquitto_property*) {
    auto* impl = static_cast<Impl*>(self);
    if (impl->options.on_published) impl->options.on_published(mid, reason);
    {
      std::lock_guard lock(impl->mu);
      --impl->pending_acks;
    }
    impl->cv.notify_all();
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->owner = this; }

absl::StatusOr<std::unique_ptr<Client>> Client::Start(ClientOptions options,
                                                      MessageHandler handler) {
  std::call_once(lib_init_once, [] { mosquitto_lib_init(); });
  auto address = ParseBrokerUrl(options.url);
  if (!address.ok()) return address.status();
  if (options.client_id.empty() && !options.clean_start) {
    return absl::InvalidArgumentError("a persistent session (clean_start false) needs a client id");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = handler ? std::move(handler) : [](std::string_view, std::string_view, int) {};
  impl->address = *address;
  const ClientOptions& o = impl->options;
  std::unique_ptr<Client> client(new Client(std::move(impl)));
  Impl* p = client->impl_.get();

  p->mosq = mosquitto_new(o.client_id.empty() ? nullptr : o.client_id.c_str(), o.clean_start, p);
  if (p->mosq == nullptr) return absl::ResourceExhaustedError("mosquitto_new failed");
  mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  mosquitto_int_option(p->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, 1000);
  mosquitto_int_option(p->mosq, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_v5_callback_set(p->mosq, &Impl::OnConnect);
  mosquitto_disconnect_v5_callback_set(p->mosq, &Impl::OnDisconnect);
  mosquitto_message_v5_callback_set(p->mosq, &Impl::OnMessage);
  mosquitto_publish_v5_callback_set(p->mosq, &Impl::OnPublish);
  mosquitto_subscribe_v5_callback_set(p->mosq, &Impl::OnSubscribe);
  mosquitto_reconnect_delay_set(p->mosq, static_cast<unsigned>(o.reconnect_min_s),
                                static_cast<unsigned>(o.reconnect_max_s), true);
  if (p->address.tls) {
    int rc = mosquitto_tls_set(p->mosq, o.tls_ca_file.empty() ? nullptr : o.tls_ca_file.c_str(),
                               o.tls_ca_file.empty() ? "/etc/ssl/certs" : nullptr,
                               o.tls_cert_file.empty() ? nullptr : o.tls_cert_file.c_str(),
                               o.tls_key_file.empty() ? nullptr : o.tls_key_file.c_str(), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) return MosqError(rc, StrCat("TLS setup for ", o.url));
  }

  mosquitto_property* props = nullptr;
  if (o.session_expiry_s > 0) {
    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, o.session_expiry_s);
  }
  int rc = mosquitto_connect_bind_v5(p->mosq, p->address.host.c_str(), p->address.port,
                                     o.keepalive_s, nullptr, props);
  mosquitto_property_free_all(&props);
  if (rc != MOSQ_ERR_SUCCESS) {
    // The network thread keeps retrying with backoff.
    spdlog::warn("mqtt {}: {}; will retry", o.url, mosquitto_strerror(rc));
  }
  rc = mosquitto_loop_start(p->mosq);
  if (rc != MOSQ_ERR_SUCCESS) return MosqError(rc, "starting the MQTT network thread");
  p->loop_started = true;
  return client;
}

Client::~Client() {
  Stop();
  if (impl_->mosq != nullptr) mosquitto_destroy(impl_->mosq);
}

void Client::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->loop_started) {
    mosquitto_disconnect_v5(impl_->mosq, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
    mosquitto_loop_stop(impl_->mosq, false);
  }
  connected_.store(false, std::memory_order_release);
}

absl::Status Client::WaitConnected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return impl_->subscribed; })) {
    return absl::DeadlineExceededError(
        StrCat("not connected to ", impl_->options.url, " after ", timeout.count(), " ms"));
  }
  return absl::OkStatus();
}

absl::Status Client::Publish(std::string_view topic, std::string_view payload, int qos, bool retain,
                             int* mid) {
  if (qos > 0) {
    std::lock_guard lock(impl_->mu);
    ++impl_->pending_acks;
  }
  int rc =
      mosquitto_publish_v5(impl_->mosq, mid, std::string(topic).c_str(),
                           static_cast<int>(payload.size()), payload.data(), qos, retain, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    if (qos > 0) {
      std::lock_guard lock(impl_->mu);
      --impl_->pending_acks;
    }
    return MosqError(rc, StrCat("publish to ", topic));
  }
  return absl::OkStatus();
}

absl::Status Client::WaitPublished(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return impl_->pending_acks <= 0; })) {
    return absl::DeadlineExceededError(StrCat(
        impl_->pending_acks, " messages still unacknowledged after ", timeout.count(), " ms"));
  }
  return absl::OkStatus();
}

}  // namespace edgeway::mqtt
