// Parses arbitrary bytes as an envelope; when they parse, checks the views stay inside the
// input and that opening or verifying them fails cleanly.
#include <cstddef>
#include <cstdint>

#include "edgeway/security/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeway::security;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  static auto* key = new PrivateKey(*PrivateKey::Generate(KeyType::kEd25519));
  static auto* cipher = new AesGcm(*AesGcm::Create(std::string(32, 'k')));
  auto e = ParseEnvelope(bytes);
  if (!e.ok()) return 0;
  auto inside = [&](std::string_view v) {
    if (!v.empty() && (v.data() < bytes.data() || v.data() + v.size() > bytes.data() + size)) {
      __builtin_trap();
    }
  };
  for (std::string_view v : {e->device_id, e->session_id, e->header, e->payload, e->signature}) {
    inside(v);
  }
  if (e->mode == EnvelopeMode::kSigned) {
    (void)key->Public().Verify(std::string(e->header) + std::string(e->payload), e->signature);
  } else {
    std::string out;
    (void)cipher->Open(SessionNonce("abcd", e->seq), e->header, e->payload, &out);
  }
  return 0;
}
