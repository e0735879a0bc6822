#include "edgeway/gateway/gateway.h"

#include <thread>

#include "absl/container/flat_hash_set.h"
#include "edgeway/core/log.h"
#include "edgeway/core/strings.h"
#include "edgeway/gateway/authenticator.h"
#include "edgeway/mqtt/broker.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/outbox/forwarder.h"
#include "edgeway/stream/engine.h"
#include "edgeway/telemetry/senml.h"
#include "spdlog/spdlog.h"

namespace edgeway::gateway {

struct Gateway::Impl final : public stream::ResultSink {
  GatewayOptions options;
  std::unique_ptr<mqtt::EmbeddedBroker> broker;
  std::string broker_url;
  std::unique_ptr<store::BatchWriter> writer;
  std::unique_ptr<stream::ShardedEngine> engine;
  std::unique_ptr<mqtt::Client> client;
  std::unique_ptr<outbox::Forwarder> forwarder;  // when upstream.url is set
  std::unique_ptr<twin::TwinRegistry> twins;     // when twins.enabled
  std::unique_ptr<Authenticator> auth;           // used on the MQTT thread only
  std::string auth_scratch;
  bool stopped = false;

  // Touched only on the MQTT network thread.
  std::unique_ptr<Decoder> decoder;
  std::vector<Reading> decoded;
  absl::flat_hash_set<std::string> devices;
  // ingest.plausible by sensor.
  absl::flat_hash_map<std::string, const GatewayConfig::PlausibleRange*> plausible;

  std::atomic<uint64_t> messages_received{0};
  std::array<std::atomic<uint64_t>, kRejectReasonCount> rejected{};
  std::array<LogRateLimiter, kRejectReasonCount> reject_log;  // one line per reason per 10 s
  std::atomic<uint64_t> readings_received{0};
  std::atomic<uint64_t> clock_substituted{0};
  std::atomic<uint64_t> timestamp_missing{0};
  std::atomic<uint64_t> device_count{0};

  void Reject(RejectReason reason, std::string_view topic, std::string_view detail,
              uint64_t count) {
    size_t i = static_cast<size_t>(reason);
    rejected[i].fetch_add(count, std::memory_order_relaxed);
    uint64_t suppressed = 0;
    if (reject_log[i].Allow(MonotonicNs(), &suppressed)) {
      spdlog::warn(
          "rejected message on '{}': {}: {}{}", topic, RejectReasonName(reason), detail,
          suppressed > 0 ? StrCat(" (", suppressed, " more like it in the last 10 s)") : "");
    }
  }

  // devices/{id}/twin/...: what a device reports of itself goes to its twin; the rest (the
  // gateway's own deltas and desired documents) is not telemetry.
  void OnTwinMessage(std::string_view topic, std::string_view device, std::string_view payload) {
    if (!topic.ends_with("/twin/reported") || !twins) return;
    messages_received.fetch_add(1, std::memory_order_relaxed);
    if (payload.size() > options.config.ingest.decoder.max_payload_bytes) {
      return Reject(RejectReason::kOversized, topic, "twin report", 1);
    }
    if (!IsValidDeviceId(device)) return Reject(RejectReason::kInvalidId, topic, "device id", 1);
    // Held to security.require as telemetry is.
    AuthResult verdict = auth->Check(topic, payload, &auth_scratch);
    if (!verdict.ok) return Reject(verdict.reason, topic, verdict.detail, 1);
    nlohmann::json patch = nlohmann::json::parse(verdict.payload, nullptr, false);
    if (!patch.is_object()) {
      return Reject(RejectReason::kMalformed, topic, "twin report is not a JSON object", 1);
    }
    if (absl::Status s = twins->UpdateReported(std::string(device), patch); !s.ok()) {
      Reject(RejectReason::kMalformed, topic, std::string(s.message()), 1);
    }
  }

  void OnDesired(const std::string& device, const nlohmann::json& delta,
                 const nlohmann::json& desired, int64_t version) {
    if (!client) return;
    const std::string base = StrCat("devices/", device, "/twin/");
    // Retained: a device that (re)subscribes gets the whole desired state and its version.
    absl::Status s = client->Publish(
        StrCat(base, "desired"), nlohmann::json({{"version", version}, {"state", desired}}).dump(),
        1, /*retain=*/true);
    if (s.ok() && !delta.empty()) {
      s = client->Publish(StrCat(base, "delta"),
                          nlohmann::json({{"version", version}, {"state", delta}}).dump(), 1);
    }
    if (!s.ok())
      spdlog::warn("twin of {}: {} (the device gets it on reconnect)", device, s.message());
  }

  // devices/{id}/session/init: the device's half of a session handshake.
  void OnSessionInit(std::string_view topic, std::string_view device, std::string_view payload) {
    messages_received.fetch_add(1, std::memory_order_relaxed);
    auto accept = auth->OnSessionInit(std::string(device), payload);
    if (!accept.ok()) {
      const absl::StatusCode code = accept.status().code();
      RejectReason reason = RejectReason::kBadSignature;
      if (code == absl::StatusCode::kNotFound) reason = RejectReason::kUnknownDevice;
      if (code == absl::StatusCode::kOutOfRange) reason = RejectReason::kStaleTimestamp;
      if (code == absl::StatusCode::kInvalidArgument) reason = RejectReason::kBadEnvelope;
      if (code == absl::StatusCode::kFailedPrecondition) reason = RejectReason::kRevoked;
      return Reject(reason, topic, std::string(accept.status().message()), 1);
    }
    absl::Status s = client->Publish(StrCat("devices/", device, "/session/accept"), *accept, 1);
    if (!s.ok()) spdlog::warn("session accept for {}: {}", device, s.message());
  }

  void OnMessage(std::string_view topic, std::string_view payload) {
    if (topic.starts_with("devices/")) {
      std::string_view rest = topic.substr(8);
      size_t slash = rest.find('/');
      std::string_view suffix = slash == std::string_view::npos ? "" : rest.substr(slash);
      if (suffix.starts_with("/twin/")) return OnTwinMessage(topic, rest.substr(0, slash), payload);
      if (suffix == "/session/init") return OnSessionInit(topic, rest.substr(0, slash), payload);
      if (suffix == "/session/accept" || suffix == "/session/reset") return;  // its own
    }
    messages_received.fetch_add(1, std::memory_order_relaxed);
    if (payload.size() > options.config.ingest.decoder.max_payload_bytes) {
      return Reject(RejectReason::kOversized, topic, "before authentication", 1);
    }
    AuthResult verdict = auth->Check(topic, payload, &auth_scratch);
    if (!verdict.reset_device.empty()) {
      (void)client->Publish(StrCat("devices/", verdict.reset_device, "/session/reset"),
                            nlohmann::json({{"session", verdict.reset_session}}).dump(), 1);
    }
    if (!verdict.ok) return Reject(verdict.reason, topic, verdict.detail, 1);
    payload = verdict.payload;
    const int64_t now = options.clock->NowNs();
    decoded.clear();
    DecodeResult result = decoder->Decode(topic, payload, now, &decoded);
    if (!result.ok) {
      Reject(result.reason, topic, result.detail, 1);
      return;
    }
    readings_received.fetch_add(decoded.size(), std::memory_order_relaxed);
    clock_substituted.fetch_add(result.clock_substituted, std::memory_order_relaxed);
    timestamp_missing.fetch_add(result.timestamp_missing, std::memory_order_relaxed);
    if (!devices.contains(decoded.front().device_id)) {
      devices.insert(decoded.front().device_id);
      device_count.store(devices.size(), std::memory_order_relaxed);
    }
    for (Reading& r : decoded) {
      if (auto it = plausible.find(r.sensor);
          it != plausible.end() && !it->second->Holds(r.value)) {
        Reject(RejectReason::kImplausible, topic,
               StrCat(r.sensor, " = ", r.value, " is outside its plausible range ", it->second->min,
                      " to ", it->second->max, " (the message's other readings are kept)"),
               1);
        continue;
      }
      if (!engine->Submit(std::move(r))) {
        Reject(RejectReason::kQueueFull, topic, "shard queue full (ingest.overflow: drop)", 1);
      }
    }
  }

  void OnResults(ResultBatch results) override {
    if (twins) twins->ReportReadings(results.readings);
    if (forwarder) AddOutbox(&results);
    writer->Add(std::move(results));
  }

  // SenML packs of what the config forwards, per device in order (a shard sees all of a device's
  // readings), at most max_records_per_message records each.
  void AddOutbox(ResultBatch* results) {
    const GatewayConfig::Upstream& up = options.config.upstream;
    const int64_t now = options.clock->NowNs();
    std::vector<std::pair<std::string, SenmlPackWriter>> packs;  // by first appearance
    absl::flat_hash_map<std::string, size_t> index;
    auto pack_of = [&](const std::string& device) -> SenmlPackWriter& {
      auto [it, added] = index.try_emplace(device, packs.size());
      if (added) packs.emplace_back(device, SenmlPackWriter(device));
      SenmlPackWriter& pack = packs[it->second].second;
      if (pack.records() >= static_cast<size_t>(up.max_records_per_message)) {
        results->outbox.push_back({.device_id = device,
                                   .topic = StrCat(up.prefix, "/", device, "/senml"),
                                   .payload = pack.Finish(),
                                   .created_ns = now});
      }
      return pack;
    };
    if (up.readings) {
      for (const Reading& r : results->readings) pack_of(r.device_id).AddReading(r);
    }
    if (up.insights) {
      for (const Insight& in : results->insights) {
        pack_of(in.device_id)
            .AddString(StrCat(in.sensor, "/", InsightKindName(in.kind)), in.ts_ns, in.summary);
      }
    }
    if (up.windows) {
      for (const WindowResult& w : results->windows) {
        const std::string base = StrCat(w.sensor, "/", w.window, "/");
        for (auto [name, value] : {std::pair<const char*, double>{"count", w.count},
                                   {"mean", w.mean},
                                   {"min", w.min},
                                   {"max", w.max},
                                   {"stddev", w.stddev}}) {
          pack_of(w.device_id).AddValue(StrCat(base, name), w.end_ns, value);
        }
        for (const auto& [p, value] : w.percentiles) {
          pack_of(w.device_id).AddValue(StrCat(base, "p", p), w.end_ns, value);
        }
      }
    }
    for (auto& [device, pack] : packs) {
      if (pack.records() == 0) continue;
      results->outbox.push_back({.device_id = device,
                                 .topic = StrCat(up.prefix, "/", device, "/senml"),
                                 .payload = pack.Finish(),
                                 .created_ns = now});
    }
  }
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gateway::~Gateway() { Stop(); }

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  const GatewayConfig& c = impl->options.config;
  impl->decoder = std::make_unique<Decoder>(c.ingest.decoder);
  for (const GatewayConfig::PlausibleRange& range : c.ingest.plausible) {
    for (const std::string& sensor : range.sensors) impl->plausible[sensor] = &range;
  }

  auto store = store::Store::Open({.path = c.store.path,
                                   .synchronous_full = c.store.synchronous_full,
                                   .outbox_max_bytes = c.upstream.max_bytes,
                                   .outbox_drop_oldest = c.upstream.drop_oldest});
  if (!store.ok()) return store.status();
  impl->writer = std::make_unique<store::BatchWriter>(
      std::move(*store),
      store::BatchWriterOptions{
          .max_rows_per_transaction = static_cast<size_t>(c.store.max_rows_per_transaction),
          .flush_interval_ms = c.store.flush_interval_ms,
          .group_commit_ms = c.store.group_commit_ms,
          .retention_ns = c.store.retention_hours * 3600 * kNsPerSecond,
          .clock = impl->options.clock},
      [p = impl.get()](const ResultBatch& committed) {
        if (p->forwarder && !committed.outbox.empty()) p->forwarder->Notify();
        if (p->options.on_commit) p->options.on_commit(committed);
      },
      impl->options.on_expire);
  auto auth =
      Authenticator::Open({.require = c.security.require,
                           .max_skew_ns = c.security.max_skew_s * kNsPerSecond,
                           .session_max_age_ns = c.security.session_max_age_s * kNsPerSecond,
                           .store_path = c.store.path,
                           .gateway_key_path = c.security.gateway_key,
                           .clock = impl->options.clock});
  if (!auth.ok()) return auth.status();
  impl->auth = std::move(*auth);
  if (c.twins.enabled) {
    auto twins = twin::TwinRegistry::Open(
        {.store_path = c.store.path,
         .limits = {.max_bytes = static_cast<size_t>(c.twins.max_bytes),
                    .max_depth = static_cast<int>(c.twins.max_depth)},
         .sensor_limits = c.twins.limits,
         .flush_interval_ms = c.twins.flush_interval_ms,
         .clock = impl->options.clock},
        [p = impl.get()](const std::string& device, const nlohmann::json& delta,
                         const nlohmann::json& desired,
                         int64_t version) { p->OnDesired(device, delta, desired, version); });
    if (!twins.ok()) return twins.status();
    impl->twins = std::move(*twins);
  }
  if (!c.upstream.url.empty()) {
    auto forwarder = outbox::Forwarder::Start(
        {.store_path = c.store.path,
         .upstream = {.url = c.upstream.url,
                      .client_id = c.upstream.client_id.empty()
                                       ? StrCat(c.mqtt.client_id, "-upstream")
                                       : c.upstream.client_id,
                      .keepalive_s = static_cast<int>(c.mqtt.keepalive_s),
                      .reconnect_max_s = static_cast<int>(c.mqtt.reconnect_max_s),
                      .tls_ca_file = c.upstream.tls_ca_file,
                      .tls_cert_file = c.upstream.tls_cert_file,
                      .tls_key_file = c.upstream.tls_key_file},
         .qos = static_cast<int>(c.upstream.qos),
         .max_messages_per_s = c.upstream.max_messages_per_s});
    if (!forwarder.ok()) return forwarder.status();
    impl->forwarder = std::move(*forwarder);
    spdlog::info("forwarding to {} on {}/{{device}}/senml", c.upstream.url, c.upstream.prefix);
  }

  size_t shards = static_cast<size_t>(c.shards);
  // One shard analyses millions of readings per second, more than one MQTT connection delivers;
  // more shards pay off only with many cores (and cost wake-ups on a small board).
  if (shards == 0) shards = std::clamp<size_t>(std::thread::hardware_concurrency() / 4, 1, 8);
  // What the last run left is read from the store as the engine takes it, on a connection of its
  // own (the writer has the first). Each key's analytics go on where the last run left them: its
  // stop, or its last snapshot before a crash (without snapshots the state is cleared once this
  // start succeeds, so that after a crash no older state comes back). Windows open when it
  // stopped get their readings back.
  auto reader = store::Store::Open({.path = c.store.path, .read_only = true});
  if (!reader.ok()) return reader.status();
  absl::Status saved_read, replayed;
  size_t saved_keys = 0, replayed_readings = 0;
  auto saved = [&](absl::FunctionRef<void(const SavedKeyState&)> take) {
    saved_read = (*reader)->ForEachAnalyticsState([&](const SavedKeyState& key) {
      ++saved_keys;
      take(key);
    });
  };
  // Each key's readings from the oldest that one of its windows not gone yet can hold. A key
  // that no window applies to gives its last `horizon`, as far back as any window reaches: the
  // analytics remember their times, to know them if they are delivered again.
  int64_t horizon = 0;
  for (const stream::WindowSpec& w : c.windows) {
    int64_t length = w.size_ns;
    if (w.kind == stream::WindowKind::kSession) {
      length = w.max_duration_ns > 0 ? w.max_duration_ns : w.gap_ns;
    }
    horizon = std::max(horizon, length + w.watermark_delay_ns + w.allowed_lateness_ns);
  }
  auto from = [&](std::string_view, std::string_view sensor, int64_t newest) {
    int64_t oldest = INT64_MAX;
    for (const stream::WindowSpec& w : c.windows) {
      if (w.Applies(sensor)) oldest = std::min(oldest, w.OldestNotGone(newest));
    }
    return oldest == INT64_MAX ? newest - horizon : oldest;
  };
  auto replay = [&](absl::FunctionRef<void(const Reading&)> take) {
    replayed = (*reader)->ForEachRecentReading(from, [&](const Reading& r) {
      ++replayed_readings;
      take(r);
    });
  };
  impl->engine = std::make_unique<stream::ShardedEngine>(
      stream::EngineOptions{
          .analytics = c.analytics,
          .per_sensor = c.analytics_per_sensor,
          .windows = c.windows,
          .shards = shards,
          .queue_capacity = static_cast<size_t>(c.ingest.queue_capacity),
          .overflow = c.ingest.overflow,
          .save_interval_ns = static_cast<int64_t>(c.analytics_save_interval_s * kNsPerSecond),
          .forget_after_ns = static_cast<int64_t>(c.analytics_forget_after_s * kNsPerSecond),
          .clock = impl->options.clock},
      impl.get(), c.windows.empty() ? stream::ShardedEngine::Source<Reading>() : replay, saved);
  reader->reset();
  if (!saved_read.ok()) return saved_read;
  if (!replayed.ok()) return replayed;
  if (replayed_readings > 0) {
    spdlog::info("windows: replayed {} stored readings to restore open windows", replayed_readings);
  }
  const bool restored = saved_keys > 0;
  if (restored) {
    spdlog::info("analytics: {} of {} keys go on from the state saved by the last run{}",
                 impl->engine->restored(), saved_keys,
                 impl->engine->restored() < saved_keys
                     ? " (the others were saved with another detector, window or warmup, and "
                       "start afresh)"
                     : "");
  }

  impl->broker_url = c.mqtt.broker;
  if (impl->broker_url.empty()) {
    mqtt::BrokerOptions broker_options;
    const GatewayConfig::Mqtt::EmbeddedTls& tls = c.mqtt.embedded_tls;
    if (!tls.ca_file.empty()) {
      broker_options.tls = mqtt::BrokerOptions::Tls{.ca_file = tls.ca_file,
                                                    .cert_file = tls.cert_file,
                                                    .key_file = tls.key_file,
                                                    .bind = tls.bind,
                                                    .port = static_cast<int>(tls.port)};
    }
    auto broker = mqtt::EmbeddedBroker::Start(broker_options);
    if (!broker.ok()) return broker.status();
    impl->broker = std::move(*broker);
    impl->broker_url = impl->broker->url();
    spdlog::info("started embedded mosquitto at {}", impl->broker_url);
    if (!impl->broker->tls_url().empty()) {
      spdlog::info("devices connect with client certificates at {}", impl->broker->tls_url());
    }
  }

  Impl* p = impl.get();
  std::vector<std::string> topics = c.mqtt.topics;
  if (impl->twins) topics.push_back("devices/+/twin/reported");
  topics.push_back("devices/+/session/init");
  auto client = mqtt::Client::Start(
      {.url = impl->broker_url,
       .client_id = c.mqtt.client_id,
       .clean_start = c.mqtt.session_expiry_s == 0,
       .session_expiry_s = static_cast<uint32_t>(c.mqtt.session_expiry_s),
       .keepalive_s = static_cast<int>(c.mqtt.keepalive_s),
       .reconnect_max_s = static_cast<int>(c.mqtt.reconnect_max_s),
       .subscribe_topics = topics,
       .subscribe_qos = static_cast<int>(c.mqtt.qos),
       .tls_ca_file = c.mqtt.tls_ca_file,
       .tls_cert_file = c.mqtt.tls_cert_file,
       .tls_key_file = c.mqtt.tls_key_file},
      [p](std::string_view topic, std::string_view payload, int) { p->OnMessage(topic, payload); });
  if (!client.ok()) return client.status();
  impl->client = std::move(*client);
  if (absl::Status s = impl->client->WaitConnected(std::chrono::seconds(10)); !s.ok()) {
    // Keep running: the client retries in the background, and a gateway that starts before its
    // broker should still come up.
    spdlog::warn("{}; continuing, the client keeps retrying", s.message());
  }
  // Which detector judges what: a gateway that stays quiet for its first readings says why.
  auto describe = [](const stream::AnalyticsOptions& a) {
    return a.detector == stream::DetectorKind::kEnsemble
               ? fmt::format(
                     "the ensemble (an anomaly at a score of {:g}), judging a sensor from "
                     "its reading {}",
                     a.anomaly_threshold, a.ensemble_warmup + 1)
               : fmt::format(
                     "the {:g}-sigma rule over {} readings, judging a sensor from its "
                     "reading {}",
                     a.sigma, a.window, a.min_samples + 1);
  };
  std::string analytics = describe(c.analytics);
  for (const stream::SensorAnalytics& s : c.analytics_per_sensor) {
    analytics += fmt::format("; {}: {}", fmt::join(s.sensors, ", "), describe(s.options));
  }
  spdlog::info("analytics: {}", analytics);
  spdlog::info("gateway subscribed to {} on {}; store {}", fmt::join(c.mqtt.topics, ", "),
               impl->broker_url, c.store.path);
  std::unique_ptr<Gateway> gateway(new Gateway(std::move(impl)));
  if (restored && c.analytics_save_interval_s == 0) {
    gateway->SaveAnalyticsState([] { return std::vector<SavedKeyState>(); });  // taken up: cleared
  }
  return gateway;
}

void Gateway::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->client->Stop();  // no more messages; the broker keeps the session
  spdlog::debug("stop: MQTT client disconnected");
  impl_->auth->Flush();   // replay high-water marks
  impl_->engine->Stop();  // drain the shards into the writer
  spdlog::debug("stop: shards drained");
  impl_->writer->Stop();  // flush the store
  spdlog::debug("stop: store flushed");
  // Each key's detector, window and stuck rule, for the next start to go on from. Without it (a
  // crash, a power cut) the next start goes on from the last snapshot, or learns afresh.
  // A chunk at a time: 30,000 ensemble keys are 90 MB of state.
  SaveAnalyticsState([this] { return impl_->engine->SaveAnalytics(256 * 1024); });
  if (impl_->forwarder) impl_->forwarder->Stop();  // what is not acknowledged stays queued
  if (impl_->twins) impl_->twins->Stop();          // save what telemetry reported
  if (impl_->broker) impl_->broker->Stop();
  spdlog::debug("stop: done");
}

void Gateway::SaveAnalyticsState(absl::FunctionRef<std::vector<SavedKeyState>()> next_chunk) {
  // On a connection of its own: the writer's is stopped at a stop, and busy at a start.
  auto store = store::Store::Open({.path = impl_->options.config.store.path});
  size_t keys = 0;
  auto counted = [&] {
    std::vector<SavedKeyState> chunk = next_chunk();
    keys += chunk.size();
    return chunk;
  };
  absl::Status saved = store.ok() ? (*store)->SaveAnalyticsState(counted) : store.status();
  if (saved.ok()) {
    spdlog::debug("analytics state of {} keys saved", keys);
  } else {
    spdlog::warn("analytics state not saved: {}", saved.message());
  }
}

GatewayStats Gateway::stats() const {
  GatewayStats s;
  const Impl& i = *impl_;
  s.messages_received = i.messages_received.load(std::memory_order_relaxed);
  for (size_t r = 0; r < kRejectReasonCount; ++r) {
    s.rejected[r] = i.rejected[r].load(std::memory_order_relaxed);
    (CountsReadings(static_cast<RejectReason>(r)) ? s.readings_rejected : s.messages_rejected) +=
        s.rejected[r];
  }
  s.readings_received = i.readings_received.load(std::memory_order_relaxed);
  s.clock_substituted = i.clock_substituted.load(std::memory_order_relaxed);
  s.timestamp_missing = i.timestamp_missing.load(std::memory_order_relaxed);
  s.readings_processed = i.engine->processed();
  s.anomalies_detected = i.engine->anomalies();
  s.stuck_sensors = i.engine->stuck_sensors();
  s.readings_stored = i.writer->readings_stored();
  s.readings_duplicate = i.writer->readings_duplicate();
  s.insights_stored = i.writer->insights_stored();
  s.window_results_stored = i.writer->window_results_stored();
  s.late_readings = i.engine->late_readings();
  s.analytics_states_saved = i.writer->analytics_states_saved();
  s.outbox_enqueued = i.writer->outbox_enqueued();
  s.outbox_dropped = i.writer->outbox_dropped();
  if (i.forwarder) {
    s.outbox_forwarded = i.forwarder->forwarded();
    store::OutboxSize backlog = i.forwarder->backlog();
    s.outbox_backlog = backlog.messages;
    s.outbox_backlog_bytes = backlog.bytes;
    s.upstream_connected = i.forwarder->connected();
  }
  s.store_failed = i.writer->rows_failed();
  s.store_expired = i.writer->rows_expired();
  s.devices = i.device_count.load(std::memory_order_relaxed);
  s.keys = i.engine->keys();
  s.keys_forgotten = i.engine->keys_forgotten();
  s.queued = i.engine->queued();
  s.store_queued_batches = i.writer->queued_batches();
  return s;
}

nlohmann::json Gateway::Summary() const {
  GatewayStats s = stats();
  nlohmann::json rejected = nlohmann::json::object();
  for (size_t r = 0; r < kRejectReasonCount; ++r) {
    rejected[RejectReasonName(static_cast<RejectReason>(r))] = s.rejected[r];
  }
  return {
      {"messages_received", s.messages_received},
      {"messages_rejected", s.messages_rejected},
      {"readings_rejected", s.readings_rejected},
      {"rejected", rejected},
      {"readings_received", s.readings_received},
      {"readings_processed", s.readings_processed},
      {"readings_stored", s.readings_stored},
      {"readings_duplicate", s.readings_duplicate},
      {"insights_stored", s.insights_stored},
      {"window_results_stored", s.window_results_stored},
      {"late_readings", s.late_readings},
      {"analytics_states_saved", s.analytics_states_saved},
      {"authenticated", impl_->auth->authenticated()},
      {"sessions", impl_->auth->sessions()},
      {"outbox_enqueued", s.outbox_enqueued},
      {"outbox_forwarded", s.outbox_forwarded},
      {"outbox_dropped", s.outbox_dropped},
      {"outbox_backlog", s.outbox_backlog},
      {"anomalies_detected", s.anomalies_detected},
      {"stuck_sensors", s.stuck_sensors},
      {"clock_substituted", s.clock_substituted},
      {"timestamp_missing", s.timestamp_missing},
      {"store_failed", s.store_failed},
      {"store_expired", s.store_expired},
      {"devices", s.devices},
      {"keys", s.keys},
      {"keys_forgotten", s.keys_forgotten},
      {"broker", impl_->broker_url},
      {"store", impl_->options.config.store.path},
  };
}

const std::string& Gateway::broker_url() const { return impl_->broker_url; }
bool Gateway::connected() const { return impl_->client->connected(); }
const GatewayConfig& Gateway::config() const { return impl_->options.config; }
twin::TwinRegistry* Gateway::twins() const { return impl_->twins.get(); }
void Gateway::BetweenCommits(absl::FunctionRef<void()> fn) const {
  impl_->writer->BetweenCommits(fn);
}

}  // namespace edgeway::gateway
