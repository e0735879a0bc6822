#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "edgeway/core/clock.h"
#include "edgeway/telemetry/decoder.h"

namespace edgeway::gateway {

// What the gateway requires of device messages (security.require).
enum class SecurityMode {
  kNone,           // plain messages accepted; envelopes are still verified
  kSigned,         // only signed envelopes (mode 1)
  kSealed,         // only sealed envelopes (mode 2)
  kAuthenticated,  // signed or sealed
};

struct SecurityOptions {
  SecurityMode require = SecurityMode::kNone;
  int64_t max_skew_ns = 300LL * 1'000'000'000;  // envelope and handshake timestamps
  int64_t session_max_age_ns = 24LL * 3600 * 1'000'000'000;
  std::string store_path;        // the registry lives in the store
  std::string gateway_key_path;  // the gateway's own key for session handshakes
  Clock* clock = Clock::Real();
};

struct AuthResult {
  bool ok = false;
  RejectReason reason = RejectReason::kUnauthenticated;
  std::string detail;
  std::string_view payload;  // what to decode: the envelope's (decrypted) payload, or the input
  // Set when a device seals under a session the gateway does not have (its store was lost):
  // publish {"session": hex} on devices/{id}/session/reset so that it shakes hands again. At
  // most once per device every 5 s.
  std::string reset_device, reset_session;
};

// Checks device messages against the registry (the store's registry table): envelopes are
// parsed, their device looked up (unknown, revoked and topic rules), their timestamp held to
// the allowed skew, their sequence number to the device's replay window, and their signature or
// session tag verified; the payload inside then goes to the decoder. Sessions are set up by the
// X25519 handshake on devices/{id}/session/init. The registry is re-read every two seconds, so a
// revocation takes effect within that; replay high-water marks are saved every second and on
// Flush. Not thread-safe: the MQTT thread owns it.
class Authenticator {
 public:
  static absl::StatusOr<std::unique_ptr<Authenticator>> Open(SecurityOptions options);
  ~Authenticator();

  // `scratch` keeps a decrypted payload alive for the returned view.
  AuthResult Check(std::string_view topic, std::string_view payload, std::string* scratch);
  // A session init from `device_id`: the accept message to publish on
  // devices/{id}/session/accept, or the reason it was refused.
  absl::StatusOr<std::string> OnSessionInit(const std::string& device_id, std::string_view init);
  // Saves the replay high-water marks.
  void Flush();

  uint64_t sessions() const { return sessions_.load(std::memory_order_relaxed); }
  uint64_t authenticated() const { return authenticated_.load(std::memory_order_relaxed); }

 private:
  struct Impl;
  explicit Authenticator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> sessions_{0};
  std::atomic<uint64_t> authenticated_{0};
};

}  // namespace edgeway::gateway
