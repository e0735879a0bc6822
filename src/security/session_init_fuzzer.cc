// The gateway's side of the session handshake against arbitrary bytes: first as a device's init
// message (JSON, hex fields, signature), then, so that the checks behind the signature are
// reached too, as the timestamp of an init the device signed properly. Sanitizers catch memory
// errors and overflows; the checks are that nothing unsigned is accepted and that an accepted
// session ends in the same keys on both sides.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "edgeway/security/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeway::security;
  static auto* device = new PrivateKey(*PrivateKey::Generate(KeyType::kEd25519));
  static auto* gateway = new PrivateKey(*PrivateKey::Generate(KeyType::kEd25519));
  static auto* gateway_public = new PublicKey(gateway->Public());
  constexpr int64_t kNow = 1'764'200'000'000'000'000;  // 2025-11-26 23:33 UTC
  constexpr int64_t kSkew = 300'000'000'000;           // 5 minutes
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (AcceptSession("board-1", bytes, device->Public(), *gateway, kNow, kSkew).ok()) {
    __builtin_trap();  // nobody signed these bytes
  }
  if (size < sizeof(int64_t)) return 0;
  int64_t ts = 0;
  std::memcpy(&ts, data, sizeof ts);
  auto init = SessionInitiator::Start("board-1", *device, ts);
  if (!init.ok()) return 0;
  auto accept =
      AcceptSession("board-1", init->init_message(), device->Public(), *gateway, kNow, kSkew);
  const bool in_skew = ts >= kNow - kSkew && ts <= kNow + kSkew;
  if (accept.ok() != in_skew) __builtin_trap();
  if (!accept.ok()) return 0;
  auto keys = init->Finish(accept->accept_message, gateway_public);
  if (!keys.ok() || keys->key != accept->keys.key) __builtin_trap();
  return 0;
}
