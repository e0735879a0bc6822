#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "edgeway/security/crypto.h"

namespace edgeway::security {

// The authenticated message envelope, version 1. Binary, big-endian:
//
//   "EW" 0x01 mode(1) id_len(1) device_id(id_len) seq(8) ts_ns(8) [session_id(8), mode 2]
//   payload_len(4) payload [sig_len(2) signature, mode 1]
//
// The header is everything before the payload. Mode 1 (signed): the signature (ECDSA P-256 DER
// or Ed25519) covers header || payload. Mode 2 (sealed): the payload is AES-256-GCM ciphertext
// || tag under the session's key, with the header as associated data and the nonce
// nonce_prefix(4) || seq(8). Either way device id, sequence number, timestamp and payload are
// bound together: changing any of them breaks the signature or the tag.
enum class EnvelopeMode : uint8_t { kSigned = 1, kSealed = 2 };

inline constexpr size_t kSessionIdSize = 8;
inline constexpr size_t kNoncePrefixSize = 4;

struct Envelope {
  EnvelopeMode mode = EnvelopeMode::kSigned;
  std::string_view device_id;
  uint64_t seq = 0;
  int64_t ts_ns = 0;
  std::string_view session_id;  // mode 2
  std::string_view header;      // the bytes the signature or tag covers before the payload
  std::string_view payload;     // plaintext (mode 1) or ciphertext || tag (mode 2)
  std::string_view signature;   // mode 1
};

// Whether `bytes` starts like an envelope (the gateway then never reads it as plain telemetry).
bool LooksLikeEnvelope(std::string_view bytes);
// Parses without checking signatures or tags; the views point into `bytes`. InvalidArgument
// naming what is wrong for anything malformed, truncated or trailing.
absl::StatusOr<Envelope> ParseEnvelope(std::string_view bytes);

std::string SignEnvelope(std::string_view device_id, uint64_t seq, int64_t ts_ns,
                         std::string_view payload, const PrivateKey& key);
// Whether `ts_ns` is within `max_skew_ns` (>= 0) of `now_ns` either way, for any two times:
// now - ts itself overflows for a timestamp far off, and timestamps come from the network.
bool WithinSkew(int64_t ts_ns, int64_t now_ns, int64_t max_skew_ns);

// The nonce of message `seq` under a session.
std::string SessionNonce(std::string_view nonce_prefix, uint64_t seq);
std::string SealEnvelope(std::string_view device_id, uint64_t seq, int64_t ts_ns,
                         std::string_view session_id, std::string_view nonce_prefix, AesGcm& cipher,
                         std::string_view payload);

// Which sequence numbers of one device were seen: the highest, and a bitmap of the kWindow
// below it, so that messages reordered in flight are accepted once and replays never. Numbers
// at or below high - kWindow are refused as too old. Sequence numbers start at 1.
class ReplayWindow {
 public:
  static constexpr uint64_t kWindow = 1024;
  enum class Verdict { kNew, kReplay, kTooOld };

  // `high`: the mark kept across a restart; everything at or below it counts as seen.
  explicit ReplayWindow(uint64_t high = 0) : high_(high) {
    if (high > 0) seen_.set();
  }
  Verdict Check(uint64_t seq) const;
  void Accept(uint64_t seq);  // after Check said kNew and the message verified
  uint64_t high() const { return high_; }

 private:
  uint64_t high_;
  std::bitset<kWindow> seen_;  // bit (seq % kWindow) for seq in (high - kWindow, high]
};

// The session handshake (mode 2), as JSON over MQTT:
//   device  -> devices/{id}/session/init   {"v":1, "eph", "nonce", "ts", "sig"}
//   gateway -> devices/{id}/session/accept {"v":1, "session", "eph", "nonce", "sig"}
// Both sign what they send with their long-term key (hex fields; "ts" in ns). The session key
// and nonce prefix come from HKDF-SHA256 over the X25519 secret, salted with both nonces, with
// the device id and session id as info.
struct SessionKeys {
  std::string session_id;    // 8 bytes
  std::string key;           // 32 bytes
  std::string nonce_prefix;  // 4 bytes
};

// Device side.
class SessionInitiator {
 public:
  static absl::StatusOr<SessionInitiator> Start(std::string device_id, const PrivateKey& key,
                                                int64_t now_ns);
  const std::string& init_message() const { return init_; }
  // Checks the gateway's accept (against `gateway_key` when given) and derives the keys.
  absl::StatusOr<SessionKeys> Finish(std::string_view accept_message,
                                     const PublicKey* gateway_key) const;

 private:
  SessionInitiator(std::string device_id, X25519 eph, std::string nonce, std::string init)
      : device_id_(std::move(device_id)),
        eph_(std::move(eph)),
        nonce_(std::move(nonce)),
        init_(std::move(init)) {}
  std::string device_id_;
  X25519 eph_;
  std::string nonce_;
  std::string init_;
};

// Gateway side: verifies an init against the device's registered key and the clock, answers.
struct SessionAccept {
  SessionKeys keys;
  std::string accept_message;
};
absl::StatusOr<SessionAccept> AcceptSession(std::string_view device_id,
                                            std::string_view init_message,
                                            const PublicKey& device_key,
                                            const PrivateKey& gateway_key, int64_t now_ns,
                                            int64_t max_skew_ns);

}  // namespace edgeway::security
