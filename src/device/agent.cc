#include "edgeway/device/agent.h"

#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "edgeway/core/log.h"
#include "edgeway/core/strings.h"
#include "edgeway/outbox/forwarder.h"
#include "edgeway/security/envelope.h"
#include "edgeway/store/store.h"
#include "edgeway/telemetry/decoder.h"
#include "edgeway/telemetry/senml.h"
#include "spdlog/spdlog.h"

namespace edgeway::device {

using nlohmann::json;

namespace {
// The highest actuator level the twin may set.
constexpr double kMaxLevel = 1e9;
}  // namespace

struct Agent::Impl {
  AgentOptions options;
  std::string telemetry_topic, twin_prefix;
  std::mutex store_mu;
  std::unique_ptr<store::Store> store;  // guarded by store_mu: the queue
  std::unique_ptr<outbox::Forwarder> forwarder;
  std::thread thread;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;                 // guarded by mu
  SamplingSettings settings;             // guarded by mu
  int64_t twin_version = 0;              // guarded by mu
  json actuator_state = json::object();  // guarded by mu
  AgentStats stats;                      // guarded by mu
  LogRateLimiter source_log;

  // Sequence numbers for envelopes: increasing across restarts, with blocks reserved in
  // {queue}.seq before use so that a crash never reuses one. Forwarder thread only.
  uint64_t next_seq = 0, reserved_seq = 0;
  uint64_t NextSeq() {
    if (next_seq == 0) {
      std::ifstream in(options.queue_path + ".seq");
      uint64_t saved = 0;
      in >> saved;
      // The clock in microseconds covers a lost file on a device with a sane clock.
      next_seq = std::max<uint64_t>(saved + 1, options.clock->NowNs() / 1000);
      reserved_seq = next_seq - 1;
    }
    if (next_seq > reserved_seq) {
      reserved_seq = next_seq + 10000;
      const std::string path = options.queue_path + ".seq", tmp = path + ".tmp";
      std::ofstream(tmp) << reserved_seq << "\n";
      std::filesystem::rename(tmp, path);
    }
    return next_seq++;
  }

  // The session (sealed mode): guarded by session_mu.
  struct Session {
    std::string id, nonce_prefix;
    security::AesGcm cipher;
    int64_t created_ns;
    uint64_t messages = 0;
  };
  std::mutex session_mu;
  std::optional<Session> session;
  std::optional<security::SessionInitiator> handshake;
  int64_t handshake_ns = 0;

  // What goes on the wire for a queued message.
  std::optional<std::string> Protect(const store::OutboxRow& row) {
    if (options.protection == AgentOptions::Protection::kNone ||
        (row.topic != telemetry_topic && row.topic != twin_prefix + "reported")) {
      return row.payload;
    }
    const int64_t now = options.clock->NowNs();
    if (options.protection == AgentOptions::Protection::kSign) {
      return security::SignEnvelope(options.device_id, NextSeq(), now, row.payload, *options.key);
    }
    std::lock_guard lock(session_mu);
    const bool stale =
        !session || session->messages >= options.session_max_messages ||
        static_cast<double>(now - session->created_ns) / 1e9 >= options.session_max_age_s;
    if (stale && (!handshake || now - handshake_ns > 5 * kNsPerSecond)) {
      auto init = security::SessionInitiator::Start(options.device_id, *options.key, now);
      if (init.ok() && forwarder
                           ->PublishNow(StrCat("devices/", options.device_id, "/session/init"),
                                        init->init_message(), 1)
                           .ok()) {
        handshake = std::move(*init);
        handshake_ns = now;
      }
    }
    if (!session) return std::nullopt;  // until the gateway answers
    ++session->messages;
    return security::SealEnvelope(options.device_id, NextSeq(), now, session->id,
                                  session->nonce_prefix, session->cipher, row.payload);
  }

  // The gateway no longer knows our session: shake hands again.
  void OnSessionReset(std::string_view payload) {
    nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
    std::lock_guard lock(session_mu);
    if (!session || !j.is_object() || j.value("session", "") != security::Hex(session->id)) return;
    spdlog::info("the gateway asked for a new session");
    session.reset();
    handshake.reset();
  }

  void OnSessionAccept(std::string_view payload) {
    {
      std::lock_guard lock(session_mu);
      if (!handshake) return;
      auto keys = handshake->Finish(payload, options.gateway_key ? &*options.gateway_key : nullptr);
      if (!keys.ok()) {
        spdlog::warn("session: {}", keys.status().message());
        return;
      }
      auto cipher = security::AesGcm::Create(keys->key);
      if (!cipher.ok()) return;
      session =
          Session{keys->session_id, keys->nonce_prefix, std::move(*cipher), options.clock->NowNs()};
      handshake.reset();
    }
    {
      std::lock_guard lock(mu);
      ++stats.sessions;
    }
    spdlog::info("session with the gateway established");
    if (forwarder) forwarder->Notify();
  }

  struct Sent {
    double value;
    int64_t ns;
  };
  std::map<std::string, Sent> last_sent;  // agent thread only

  bool Enqueue(const std::string& topic, std::string payload) {
    std::lock_guard lock(store_mu);
    auto written = store->Write({.outbox = {{.device_id = options.device_id,
                                             .topic = topic,
                                             .payload = std::move(payload),
                                             .created_ns = options.clock->NowNs()}}});
    if (!written.ok()) {
      spdlog::error("device queue: {}", written.status().message());
      return false;
    }
    if (forwarder) forwarder->Notify();
    return true;
  }

  // Reports the applied settings and actuator states. Call without mu.
  void ReportTwin() {
    json reported;
    {
      std::lock_guard lock(mu);
      reported = {{"interval_s", settings.interval_s},
                  {"max_interval_s", settings.max_interval_s},
                  {"deadband", settings.deadband},
                  {"heartbeat_s", settings.heartbeat_s}};
      for (const auto& [key, value] : actuator_state.items()) reported[key] = value;
    }
    Enqueue(twin_prefix + "reported", reported.dump());
  }

  // devices/{id}/twin/desired (retained, all of it) and devices/{id}/twin/delta.
  void OnTwin(std::string_view topic, std::string_view payload) {
    json message = json::parse(payload, nullptr, false);
    if (!message.is_object() || !message.contains("version") ||
        !message["version"].is_number_integer() || !message.contains("state") ||
        !message["state"].is_object()) {
      spdlog::warn("twin message on {} is not {{\"version\", \"state\"}}; ignored", topic);
      return;
    }
    const int64_t version = message["version"].get<int64_t>();
    {
      std::lock_guard lock(mu);
      if (version <= twin_version) return;  // older than what is applied (or the same)
      twin_version = version;
      stats.twin_version = version;
    }
    for (const auto& [key, value] : message["state"].items()) Apply(key, value);
    spdlog::info("twin version {} applied", version);
    ReportTwin();
  }

  void Apply(const std::string& key, const json& value) {
    auto setting = [&](double* field, double min, double max) {
      if (!value.is_number() || value.get<double>() < min || value.get<double>() > max) {
        spdlog::warn("twin: {} must be a number in [{}, {}]; kept {}", key, min, max, *field);
        return;
      }
      std::lock_guard lock(mu);
      *field = value.get<double>();
      if (field == &settings.interval_s) {
        stats.interval_s = *field;
        cv.notify_all();  // the next sample follows the new period
      }
    };
    if (key == "interval_s") return setting(&settings.interval_s, 0.01, 86400);
    if (key == "max_interval_s") return setting(&settings.max_interval_s, 0.01, 86400);
    if (key == "deadband") return setting(&settings.deadband, 0, 1e12);
    if (key == "heartbeat_s") return setting(&settings.heartbeat_s, 0, 1e7);
    auto it = options.actuators.find(key);
    if (it == options.actuators.end()) {
      spdlog::debug("twin: no setting or actuator named {}; ignored", key);
      return;
    }
    // A level is what the actuator takes (an LED's brightness, a GPIO's 0 or 1). A number past
    // what int64 holds cannot even be cast to one: refused, as is anything negative or not a
    // number.
    const double number = value.is_boolean()  ? (value.get<bool>() ? 1 : 0)
                          : value.is_number() ? value.get<double>()
                                              : -1;
    if (!(number >= 0 && number <= kMaxLevel)) {
      spdlog::warn("twin: {} must be true, false or a level in [0, {}]; kept", key, kMaxLevel);
      return;
    }
    const auto level = static_cast<int64_t>(number);
    if (absl::Status s = it->second->Set(level); !s.ok()) {
      spdlog::error("twin: {}: {}", it->second->Describe(), s.message());
      return;
    }
    std::lock_guard lock(mu);
    actuator_state[key] = value;
  }

  void Run() {
    std::vector<Sample> samples;
    int stable_rounds = 0;
    double interval = 0;
    int64_t previous_ns = 0;
    double fixed_rate_credit = 0;
    auto next = std::chrono::steady_clock::now();
    while (true) {
      SamplingSettings s;
      {
        std::unique_lock lock(mu);
        cv.wait_until(lock, next, [&] { return stopping; });
        if (stopping) break;
        s = settings;
      }
      if (interval == 0 || interval < s.interval_s) interval = s.interval_s;
      samples.clear();
      uint64_t errors = 0;
      for (auto& source : options.sources) {
        if (absl::Status st = source->Read(&samples); !st.ok()) {
          ++errors;
          uint64_t suppressed = 0;
          if (source_log.Allow(MonotonicNs(), &suppressed)) {
            spdlog::warn("{}: {}", source->Describe(), st.message());
          }
        }
      }
      const int64_t now = options.clock->NowNs();
      SenmlPackWriter pack(options.device_id);
      bool moved = false;
      for (const Sample& sample : samples) {
        auto it = last_sent.find(sample.sensor);
        const bool beyond =
            it == last_sent.end() || std::abs(sample.value - it->second.value) > s.deadband;
        moved = moved || beyond;
        const bool stale = it != last_sent.end() &&
                           static_cast<double>(now - it->second.ns) >= s.heartbeat_s * 1e9;
        if (!beyond && !stale) continue;
        pack.AddReading({.device_id = options.device_id,
                         .sensor = sample.sensor,
                         .ts_ns = now,
                         .value = sample.value,
                         .unit = sample.unit});
        last_sent[sample.sensor] = {sample.value, now};
      }
      const size_t published = pack.records();
      const bool queued = published > 0 && Enqueue(telemetry_topic, pack.Finish());
      // A fixed-rate device sends one message every interval_s.
      fixed_rate_credit +=
          previous_ns == 0 ? 1.0 : static_cast<double>(now - previous_ns) / 1e9 / s.interval_s;
      previous_ns = now;
      // Adaptive sampling: stretch the period while nothing moves, back to the base at once.
      if (moved) {
        stable_rounds = 0;
        interval = s.interval_s;
      } else if (++stable_rounds >= 3) {
        interval = std::min(interval * 2, std::max(s.max_interval_s, s.interval_s));
      }
      {
        std::lock_guard lock(mu);
        ++stats.samples;
        stats.readings_read += samples.size();
        stats.source_errors += errors;
        if (queued) {
          stats.readings_published += published;
          ++stats.messages_published;
        }
        stats.fixed_rate_messages = static_cast<uint64_t>(std::llround(fixed_rate_credit));
        stats.interval_s = interval;
      }
      next = std::chrono::steady_clock::now() +
             std::chrono::microseconds(static_cast<int64_t>(interval * 1e6));
    }
  }
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() { Stop(); }

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(AgentOptions options) {
  if (!IsValidDeviceId(options.device_id)) {
    return absl::InvalidArgumentError(
        StrCat("device id '", options.device_id, "' is not valid (letters, digits, - _ . :)"));
  }
  if (options.sources.empty()) {
    return absl::InvalidArgumentError("no sensors to read: name a source");
  }
  if (options.protection != AgentOptions::Protection::kNone && !options.key) {
    return absl::InvalidArgumentError("signing or sealing needs the device's key (--key)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->settings = impl->options.sampling;
  impl->stats.interval_s = impl->settings.interval_s;
  impl->telemetry_topic = StrCat("devices/", impl->options.device_id, "/telemetry");
  impl->twin_prefix = StrCat("devices/", impl->options.device_id, "/twin/");
  auto store = store::Store::Open({.path = impl->options.queue_path});
  if (!store.ok()) return store.status();
  impl->store = std::move(*store);
  Impl* p = impl.get();
  auto forwarder = outbox::Forwarder::Start(
      {.store_path = impl->options.queue_path,
       .upstream =
           {.url = impl->options.broker_url,
            .client_id = impl->options.device_id,
            .clean_start = false,
            .session_expiry_s = 7 * 24 * 3600,
            .keepalive_s = impl->options.keepalive_s,
            .reconnect_max_s = impl->options.reconnect_max_s,
            .subscribe_topics = {impl->twin_prefix + "desired", impl->twin_prefix + "delta",
                                 StrCat("devices/", impl->options.device_id, "/session/accept"),
                                 StrCat("devices/", impl->options.device_id, "/session/reset")},
            .tls_ca_file = impl->options.tls_ca_file,
            .tls_cert_file = impl->options.tls_cert_file,
            .tls_key_file = impl->options.tls_key_file},
       .qos = impl->options.qos,
       // What is in flight when the connection drops is sent again: the gateway recognises a
       // reading among its key's last 16 (RecentTimes), and a message holds one of each sensor.
       .max_in_flight = 8,
       .on_message =
           [p](std::string_view topic, std::string_view payload, int) {
             if (topic.ends_with("/session/accept")) {
               return p->OnSessionAccept(payload);
             }
             if (topic.ends_with("/session/reset")) {
               return p->OnSessionReset(payload);
             }
             p->OnTwin(topic, payload);
           },
       .transform = [p](const store::OutboxRow& row) { return p->Protect(row); }});
  if (!forwarder.ok()) return forwarder.status();
  impl->forwarder = std::move(*forwarder);
  for (const auto& source : impl->options.sources) {
    spdlog::info("reading {}", source->Describe());
  }
  impl->ReportTwin();
  impl->thread = std::thread([p] { p->Run(); });
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

void Agent::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->forwarder) impl_->forwarder->Stop();
}

AgentStats Agent::stats() const {
  AgentStats s;
  {
    std::lock_guard lock(impl_->mu);
    s = impl_->stats;
  }
  if (impl_->forwarder) {
    s.messages_sent = impl_->forwarder->forwarded();
    s.queued = static_cast<uint64_t>(impl_->forwarder->backlog().messages);
  }
  return s;
}

json Agent::Summary() const {
  AgentStats s = stats();
  const double saved = s.fixed_rate_messages == 0
                           ? 0
                           : 100.0 * (1.0 - static_cast<double>(s.messages_published) /
                                                static_cast<double>(s.fixed_rate_messages));
  return {{"device", impl_->options.device_id},
          {"samples", s.samples},
          {"readings_read", s.readings_read},
          {"readings_published", s.readings_published},
          {"messages_published", s.messages_published},
          {"messages_sent", s.messages_sent},
          {"queued", s.queued},
          {"fixed_rate_messages", s.fixed_rate_messages},
          {"messages_saved_percent", saved},
          {"source_errors", s.source_errors},
          {"twin_version", s.twin_version},
          {"sessions", s.sessions},
          {"interval_s", s.interval_s}};
}

}  // namespace edgeway::device
