#include "edgeway/gateway/authenticator.h"

#include <map>
#include <optional>

#include "edgeway/core/strings.h"
#include "edgeway/mqtt/client.h"
#include "edgeway/security/crypto.h"
#include "edgeway/security/envelope.h"
#include "edgeway/store/store.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace edgeway::gateway {
namespace {

using security::AesGcm;
using security::Envelope;
using security::EnvelopeMode;
using security::ReplayWindow;

AuthResult Refuse(RejectReason reason, std::string detail) {
  return {.ok = false, .reason = reason, .detail = std::move(detail)};
}

// devices/{id}/... names the device; other topics do not.
std::string_view TopicDevice(std::string_view topic) {
  if (!topic.starts_with("devices/")) return {};
  topic.remove_prefix(8);
  return topic.substr(0, topic.find('/'));
}

}  // namespace

// The gateway's key for session handshakes: made on first use.
absl::StatusOr<security::PrivateKey> LoadOrCreateKey(const std::string& path) {
  auto key = security::LoadPrivateKey(path);
  if (key.ok() || key.status().code() != absl::StatusCode::kNotFound) return key;
  key = security::PrivateKey::Generate(security::KeyType::kEd25519);
  if (!key.ok()) return key.status();
  if (absl::Status s = security::SavePrivateKey(*key, path, false); !s.ok()) return s;
  spdlog::info("created the gateway's session key {} (edgeway keys show --key {})", path, path);
  return key;
}

struct Authenticator::Impl {
  struct Session {
    std::string id;
    AesGcm cipher;
    std::string nonce_prefix;
    int64_t created_ns;
  };
  struct Device {
    store::RegisteredDevice entry;
    std::optional<security::PublicKey> key;
    ReplayWindow window;
    uint64_t saved_high = 0;
    std::vector<Session> sessions;  // newest last, at most two
    int64_t last_reset_ns = 0;
  };

  SecurityOptions options;
  std::unique_ptr<store::Store> store;
  std::map<std::string, Device, std::less<>> devices;
  std::optional<security::PrivateKey> gateway_key;
  int64_t next_refresh = 0;
  int64_t next_flush = 0;

  void Refresh() {
    auto rows = store->RegisteredDevices();
    if (!rows.ok()) {
      spdlog::error("registry: {}", rows.status().message());
      return;
    }
    std::map<std::string, Device, std::less<>> fresh;
    for (store::RegisteredDevice& row : *rows) {
      Device& d = fresh[row.device_id];
      auto old = devices.find(row.device_id);
      const bool same_key = old != devices.end() && old->second.entry.public_key == row.public_key;
      if (same_key) {
        d = std::move(old->second);
      } else {
        auto key = security::PublicKey::FromPem(row.public_key);
        if (!key.ok()) {
          spdlog::warn("registry: {}: {}", row.device_id, key.status().message());
        } else {
          d.key = std::move(*key);
        }
        d.window = ReplayWindow(row.high_seq);
        d.saved_high = row.high_seq;
      }
      d.entry = std::move(row);
    }
    devices = std::move(fresh);
  }

  void Tick() {
    const int64_t now = MonotonicNs();
    if (now >= next_refresh) {
      Refresh();
      next_refresh = now + 2 * kNsPerSecond;
    }
    if (now >= next_flush) {
      SaveHighWater();
      next_flush = now + kNsPerSecond;
    }
  }

  void SaveHighWater() {
    std::vector<std::pair<std::string, uint64_t>> seqs;
    for (auto& [id, d] : devices) {
      if (d.window.high() > d.saved_high) seqs.emplace_back(id, d.window.high());
    }
    if (seqs.empty()) return;
    if (absl::Status s = store->SaveHighSeqs(seqs); !s.ok()) {
      spdlog::error("registry: {}", s.message());
      return;
    }
    for (const auto& [id, high] : seqs) devices[id].saved_high = high;
  }

  bool Required(EnvelopeMode mode) const {
    switch (options.require) {
      case SecurityMode::kSigned:
        return mode == EnvelopeMode::kSigned;
      case SecurityMode::kSealed:
        return mode == EnvelopeMode::kSealed;
      default:
        return true;
    }
  }
};

Authenticator::Authenticator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Authenticator::~Authenticator() { Flush(); }

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Open(SecurityOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  auto store = store::Store::Open({.path = impl->options.store_path});
  if (!store.ok()) return store.status();
  impl->store = std::move(*store);
  impl->Refresh();
  impl->next_refresh = MonotonicNs() + 2 * kNsPerSecond;
  // Sessions agreed before a restart carry on.
  auto sessions = impl->store->Sessions();
  if (!sessions.ok()) return sessions.status();
  for (store::StoredSession& s : *sessions) {
    auto it = impl->devices.find(s.device_id);
    auto cipher = AesGcm::Create(s.key);
    if (it == impl->devices.end() || !cipher.ok()) continue;
    it->second.sessions.push_back(
        {std::move(s.session_id), std::move(*cipher), std::move(s.nonce_prefix), s.created_ns});
  }
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(impl)));
}

void Authenticator::Flush() { impl_->SaveHighWater(); }

AuthResult Authenticator::Check(std::string_view topic, std::string_view payload,
                                std::string* scratch) {
  Impl& m = *impl_;
  if (!security::LooksLikeEnvelope(payload)) {
    if (m.options.require != SecurityMode::kNone) {
      return Refuse(RejectReason::kUnauthenticated, "plain message; security.require is set");
    }
    return {.ok = true, .payload = payload};
  }
  m.Tick();
  auto e = security::ParseEnvelope(payload);
  if (!e.ok()) return Refuse(RejectReason::kBadEnvelope, std::string(e.status().message()));
  if (!m.Required(e->mode)) {
    return Refuse(RejectReason::kUnauthenticated, e->mode == EnvelopeMode::kSigned
                                                      ? "signed; security.require is sealed"
                                                      : "sealed; security.require is signed");
  }
  auto it = m.devices.find(e->device_id);
  if (it == m.devices.end() || !it->second.key) {
    return Refuse(RejectReason::kUnknownDevice, StrCat("device '", e->device_id, "'"));
  }
  Impl::Device& d = it->second;
  if (d.entry.revoked) return Refuse(RejectReason::kRevoked, StrCat("device '", e->device_id, "'"));
  std::string_view topic_device = TopicDevice(topic);
  if (!topic_device.empty() && topic_device != e->device_id) {
    return Refuse(RejectReason::kDeviceMismatch,
                  StrCat("envelope of '", e->device_id, "' on topic of '", topic_device, "'"));
  }
  if (!d.entry.topics.empty()) {
    const std::string t(topic);
    bool allowed = false;
    for (const std::string& filter : d.entry.topics)
      allowed = allowed || mqtt::TopicMatches(filter, t);
    if (!allowed) return Refuse(RejectReason::kTopicNotAllowed, t);
  }
  const int64_t now = m.options.clock->NowNs();
  if (!security::WithinSkew(e->ts_ns, now, m.options.max_skew_ns)) {
    const double off_s = (static_cast<double>(e->ts_ns) - static_cast<double>(now)) / kNsPerSecond;
    return Refuse(RejectReason::kStaleTimestamp, StrCat("device '", e->device_id, "' time is ",
                                                        fmt::format("{:.0f}", off_s), " s off"));
  }
  if (d.window.Check(e->seq) != ReplayWindow::Verdict::kNew) {
    return Refuse(RejectReason::kReplay, StrCat("device '", e->device_id, "' seq ", e->seq));
  }
  std::string_view inner;
  if (e->mode == EnvelopeMode::kSigned) {
    // The signature covers header || payload, which are contiguous in the message.
    if (!d.key->Verify(payload.substr(0, e->header.size() + e->payload.size()), e->signature)) {
      return Refuse(RejectReason::kBadSignature, StrCat("device '", e->device_id, "'"));
    }
    inner = e->payload;
  } else {
    auto s = std::find_if(d.sessions.begin(), d.sessions.end(),
                          [&](const Impl::Session& x) { return x.id == e->session_id; });
    if (s == d.sessions.end()) {
      AuthResult r =
          Refuse(RejectReason::kBadTag, StrCat("device '", e->device_id, "': unknown session"));
      const int64_t mono = MonotonicNs();
      if (mono - d.last_reset_ns >= 5 * kNsPerSecond) {
        d.last_reset_ns = mono;
        r.reset_device = e->device_id;
        r.reset_session = security::Hex(e->session_id);
      }
      return r;
    }
    if (now - s->created_ns > m.options.session_max_age_ns) {
      return Refuse(RejectReason::kBadTag, StrCat("device '", e->device_id, "': session expired"));
    }
    scratch->clear();
    if (!s->cipher.Open(security::SessionNonce(s->nonce_prefix, e->seq), e->header, e->payload,
                        scratch)) {
      return Refuse(RejectReason::kBadTag, StrCat("device '", e->device_id, "'"));
    }
    inner = *scratch;
  }
  d.window.Accept(e->seq);
  authenticated_.fetch_add(1, std::memory_order_relaxed);
  return {.ok = true, .payload = inner};
}

absl::StatusOr<std::string> Authenticator::OnSessionInit(const std::string& device_id,
                                                         std::string_view init) {
  Impl& m = *impl_;
  m.Tick();
  auto it = m.devices.find(device_id);
  if (it == m.devices.end() || !it->second.key) {
    return absl::NotFoundError(StrCat("session init from unknown device '", device_id, "'"));
  }
  Impl::Device& d = it->second;
  if (d.entry.revoked) {
    return absl::FailedPreconditionError(
        StrCat("session init from revoked device '", device_id, "'"));
  }
  if (!m.gateway_key) {
    std::string path = m.options.gateway_key_path.empty() ? m.options.store_path + ".gateway.key"
                                                          : m.options.gateway_key_path;
    auto key = LoadOrCreateKey(path);
    if (!key.ok()) return key.status();
    m.gateway_key = std::move(*key);
  }
  const int64_t now = m.options.clock->NowNs();
  auto accepted =
      security::AcceptSession(device_id, init, *d.key, *m.gateway_key, now, m.options.max_skew_ns);
  if (!accepted.ok()) return accepted.status();
  auto cipher = AesGcm::Create(accepted->keys.key);
  if (!cipher.ok()) return cipher.status();
  if (absl::Status s = m.store->SaveSession({device_id, accepted->keys.session_id,
                                             accepted->keys.key, accepted->keys.nonce_prefix, now});
      !s.ok()) {
    return s;
  }
  d.sessions.push_back(
      {accepted->keys.session_id, std::move(*cipher), accepted->keys.nonce_prefix, now});
  // The previous session stays usable for messages still in flight; older ones go.
  if (d.sessions.size() > 2) d.sessions.erase(d.sessions.begin());
  sessions_.fetch_add(1, std::memory_order_relaxed);
  return std::move(accepted->accept_message);
}

}  // namespace edgeway::gateway
