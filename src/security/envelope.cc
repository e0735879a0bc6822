#include "edgeway/security/envelope.h"

#include "edgeway/core/strings.h"
#include "nlohmann/json.hpp"

namespace edgeway::security {
namespace {

constexpr std::string_view kMagic = "EW\x01";
constexpr std::string_view kInitContext = "edgeway session init v1";
constexpr std::string_view kAcceptContext = "edgeway session accept v1";
constexpr size_t kNonceSize = 16;

void PutBig(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetBig(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<unsigned char>(in[at + i]);
  return v;
}

std::string Header(EnvelopeMode mode, std::string_view device_id, uint64_t seq, int64_t ts_ns,
                   std::string_view session_id, size_t payload_size) {
  std::string h(kMagic);
  h.push_back(static_cast<char>(mode));
  h.push_back(static_cast<char>(device_id.size()));
  h.append(device_id);
  PutBig(&h, seq, 8);
  PutBig(&h, static_cast<uint64_t>(ts_ns), 8);
  if (mode == EnvelopeMode::kSealed) h.append(session_id);
  PutBig(&h, payload_size, 4);
  return h;
}

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("envelope: ", what));
}

}  // namespace

bool LooksLikeEnvelope(std::string_view bytes) { return bytes.starts_with("EW"); }

absl::StatusOr<Envelope> ParseEnvelope(std::string_view b) {
  if (b.size() < 5 || !b.starts_with("EW")) return Malformed("no EW magic");
  if (b[2] != 1) return Malformed(StrCat("version ", static_cast<int>(b[2]), " is not 1"));
  Envelope e;
  const uint8_t mode = static_cast<uint8_t>(b[3]);
  if (mode != 1 && mode != 2) return Malformed(StrCat("unknown mode ", mode));
  e.mode = static_cast<EnvelopeMode>(mode);
  const size_t id_len = static_cast<unsigned char>(b[4]);
  if (id_len == 0 || id_len > 64) return Malformed("device id length not in [1, 64]");
  size_t at = 5;
  const size_t fixed = id_len + 16 + (e.mode == EnvelopeMode::kSealed ? kSessionIdSize : 0) + 4;
  if (b.size() < at + fixed) return Malformed("truncated header");
  e.device_id = b.substr(at, id_len);
  at += id_len;
  e.seq = GetBig(b, at, 8);
  e.ts_ns = static_cast<int64_t>(GetBig(b, at + 8, 8));
  at += 16;
  if (e.mode == EnvelopeMode::kSealed) {
    e.session_id = b.substr(at, kSessionIdSize);
    at += kSessionIdSize;
  }
  const uint64_t payload_len = GetBig(b, at, 4);
  at += 4;
  e.header = b.substr(0, at);
  if (payload_len > b.size() - at) return Malformed("payload length past the end");
  e.payload = b.substr(at, payload_len);
  at += payload_len;
  if (e.mode == EnvelopeMode::kSigned) {
    if (b.size() - at < 2) return Malformed("truncated signature length");
    const size_t sig_len = GetBig(b, at, 2);
    at += 2;
    if (sig_len == 0 || sig_len > b.size() - at) return Malformed("signature length past the end");
    e.signature = b.substr(at, sig_len);
    at += sig_len;
  } else if (e.payload.size() < AesGcm::kTagSize) {
    return Malformed("sealed payload shorter than its tag");
  }
  if (at != b.size()) return Malformed("bytes after the end");
  if (e.seq == 0) return Malformed("sequence number 0");
  return e;
}

std::string SignEnvelope(std::string_view device_id, uint64_t seq, int64_t ts_ns,
                         std::string_view payload, const PrivateKey& key) {
  std::string out = Header(EnvelopeMode::kSigned, device_id, seq, ts_ns, {}, payload.size());
  out.append(payload);
  auto sig = key.Sign(out);
  std::string signature = sig.ok() ? *sig : std::string();
  PutBig(&out, signature.size(), 2);
  out.append(signature);
  return out;
}

bool WithinSkew(int64_t ts_ns, int64_t now_ns, int64_t max_skew_ns) {
  // The distance in uint64, where the difference of any two int64 fits.
  const auto ts = static_cast<uint64_t>(ts_ns), now = static_cast<uint64_t>(now_ns);
  return (ts_ns >= now_ns ? ts - now : now - ts) <= static_cast<uint64_t>(max_skew_ns);
}

std::string SessionNonce(std::string_view nonce_prefix, uint64_t seq) {
  std::string nonce(nonce_prefix);
  PutBig(&nonce, seq, 8);
  return nonce;
}

std::string SealEnvelope(std::string_view device_id, uint64_t seq, int64_t ts_ns,
                         std::string_view session_id, std::string_view nonce_prefix, AesGcm& cipher,
                         std::string_view payload) {
  std::string out = Header(EnvelopeMode::kSealed, device_id, seq, ts_ns, session_id,
                           payload.size() + AesGcm::kTagSize);
  const std::string header = out;
  cipher.Seal(SessionNonce(nonce_prefix, seq), header, payload, &out);
  return out;
}

ReplayWindow::Verdict ReplayWindow::Check(uint64_t seq) const {
  if (seq > high_) return Verdict::kNew;
  if (high_ - seq >= kWindow) return Verdict::kTooOld;
  return seen_.test(seq % kWindow) ? Verdict::kReplay : Verdict::kNew;
}

void ReplayWindow::Accept(uint64_t seq) {
  if (seq > high_) {
    // Clear the bits of the numbers the window slides past.
    const uint64_t shift = seq - high_;
    if (shift >= kWindow) {
      seen_.reset();
    } else {
      for (uint64_t s = high_ + 1; s <= seq; ++s) seen_.reset(s % kWindow);
    }
    high_ = seq;
  }
  seen_.set(seq % kWindow);
}

namespace {

std::string InitTranscript(std::string_view device_id, std::string_view eph, std::string_view nonce,
                           int64_t ts) {
  return StrCat(kInitContext, "|", device_id, "|", Hex(eph), "|", Hex(nonce), "|", ts);
}

std::string AcceptTranscript(std::string_view device_id, std::string_view device_eph,
                             std::string_view device_nonce, std::string_view session,
                             std::string_view eph, std::string_view nonce) {
  return StrCat(kAcceptContext, "|", device_id, "|", Hex(device_eph), "|", Hex(device_nonce), "|",
                Hex(session), "|", Hex(eph), "|", Hex(nonce));
}

absl::StatusOr<SessionKeys> Derive(std::string_view shared, std::string_view device_nonce,
                                   std::string_view gateway_nonce, std::string_view device_id,
                                   std::string session_id) {
  auto okm = HkdfSha256(shared, StrCat(device_nonce, gateway_nonce),
                        StrCat("edgeway session v1|", device_id, "|", Hex(session_id)),
                        32 + kNoncePrefixSize);
  if (!okm.ok()) return okm.status();
  return SessionKeys{std::move(session_id), okm->substr(0, 32), okm->substr(32)};
}

// Whether `j` is an object with "v": 1. (j.value("v", 0) would convert any number to int, and a
// float like 1e90 does not fit one.)
bool IsVersion1(const nlohmann::json& j) {
  return j.is_object() && j.contains("v") && j["v"].is_number_integer() && j["v"] == 1;
}

// A hex field of `j`, `bytes` long once decoded.
absl::StatusOr<std::string> HexField(const nlohmann::json& j, const char* name, size_t bytes) {
  if (!j.contains(name) || !j[name].is_string()) {
    return absl::InvalidArgumentError(StrCat("session message has no '", name, "'"));
  }
  std::string v = Unhex(j[name].get<std::string>());
  if (v.empty() || (bytes > 0 && v.size() != bytes)) {
    return absl::InvalidArgumentError(StrCat("session message: bad '", name, "'"));
  }
  return v;
}

}  // namespace

absl::StatusOr<SessionInitiator> SessionInitiator::Start(std::string device_id,
                                                         const PrivateKey& key, int64_t now_ns) {
  auto eph = X25519::Generate();
  if (!eph.ok()) return eph.status();
  std::string nonce = RandomBytes(kNonceSize);
  auto sig = key.Sign(InitTranscript(device_id, eph->public_key(), nonce, now_ns));
  if (!sig.ok()) return sig.status();
  nlohmann::json init = {{"v", 1},
                         {"eph", Hex(eph->public_key())},
                         {"nonce", Hex(nonce)},
                         {"ts", now_ns},
                         {"sig", Hex(*sig)}};
  return SessionInitiator(std::move(device_id), std::move(*eph), std::move(nonce), init.dump());
}

absl::StatusOr<SessionKeys> SessionInitiator::Finish(std::string_view accept_message,
                                                     const PublicKey* gateway_key) const {
  nlohmann::json j = nlohmann::json::parse(accept_message, nullptr, false);
  if (!IsVersion1(j)) {
    return absl::InvalidArgumentError("session accept is not a version 1 JSON object");
  }
  auto session = HexField(j, "session", kSessionIdSize);
  auto eph = HexField(j, "eph", 32);
  auto nonce = HexField(j, "nonce", kNonceSize);
  auto sig = HexField(j, "sig", 0);
  for (const auto* f : {&session, &eph, &nonce, &sig}) {
    if (!f->ok()) return f->status();
  }
  if (gateway_key != nullptr &&
      !gateway_key->Verify(
          AcceptTranscript(device_id_, eph_.public_key(), nonce_, *session, *eph, *nonce), *sig)) {
    return absl::PermissionDeniedError("session accept: the gateway's signature does not verify");
  }
  auto shared = eph_.Agree(*eph);
  if (!shared.ok()) return shared.status();
  return Derive(*shared, nonce_, *nonce, device_id_, std::move(*session));
}

absl::StatusOr<SessionAccept> AcceptSession(std::string_view device_id,
                                            std::string_view init_message,
                                            const PublicKey& device_key,
                                            const PrivateKey& gateway_key, int64_t now_ns,
                                            int64_t max_skew_ns) {
  nlohmann::json j = nlohmann::json::parse(init_message, nullptr, false);
  if (!IsVersion1(j) || !j.contains("ts") || !j["ts"].is_number_integer()) {
    return absl::InvalidArgumentError("session init is not a version 1 JSON object with ts");
  }
  auto eph = HexField(j, "eph", 32);
  auto nonce = HexField(j, "nonce", kNonceSize);
  auto sig = HexField(j, "sig", 0);
  for (const auto* f : {&eph, &nonce, &sig}) {
    if (!f->ok()) return f->status();
  }
  const int64_t ts = j["ts"].get<int64_t>();
  if (!device_key.Verify(InitTranscript(device_id, *eph, *nonce, ts), *sig)) {
    return absl::PermissionDeniedError("session init: the device's signature does not verify");
  }
  if (!WithinSkew(ts, now_ns, max_skew_ns)) {
    return absl::OutOfRangeError("session init: timestamp outside the allowed skew");
  }
  auto mine = X25519::Generate();
  if (!mine.ok()) return mine.status();
  auto shared = mine->Agree(*eph);
  if (!shared.ok()) return shared.status();
  std::string session = RandomBytes(kSessionIdSize);
  std::string my_nonce = RandomBytes(kNonceSize);
  auto keys = Derive(*shared, *nonce, my_nonce, device_id, session);
  if (!keys.ok()) return keys.status();
  auto my_sig = gateway_key.Sign(
      AcceptTranscript(device_id, *eph, *nonce, session, mine->public_key(), my_nonce));
  if (!my_sig.ok()) return my_sig.status();
  nlohmann::json accept = {{"v", 1},
                           {"session", Hex(session)},
                           {"eph", Hex(mine->public_key())},
                           {"nonce", Hex(my_nonce)},
                           {"sig", Hex(*my_sig)}};
  return SessionAccept{std::move(*keys), accept.dump()};
}

}  // namespace edgeway::security
