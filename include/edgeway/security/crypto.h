#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace edgeway::security {

// Thin RAII wrappers over OpenSSL 3's EVP interface: nothing here is a primitive of our own.

enum class KeyType { kEcdsaP256, kEd25519 };
const char* KeyTypeName(KeyType type);  // "ecdsa-p256", "ed25519"

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class PublicKey {
 public:
  // SubjectPublicKeyInfo PEM, as `openssl pkey -pubout` and Python's cryptography write it.
  static absl::StatusOr<PublicKey> FromPem(std::string_view pem);
  std::string ToPem() const;
  KeyType type() const { return type_; }
  // ECDSA: a DER signature over SHA-256 of `data` (what Python's ec.ECDSA(hashes.SHA256())
  // makes); Ed25519: the 64-byte signature of RFC 8032.
  bool Verify(std::string_view data, std::string_view signature) const;
  // The raw public key: 32 bytes for Ed25519, the 65-byte uncompressed point for P-256.
  std::string Raw() const;
  // Hex SHA-256 of the DER SubjectPublicKeyInfo: a short name for the key.
  std::string Fingerprint() const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  PublicKey(PkeyPtr key, KeyType type) : key_(std::move(key)), type_(type) {}
  std::shared_ptr<EVP_PKEY> key_;
  KeyType type_;
  friend class PrivateKey;
};

class PrivateKey {
 public:
  static absl::StatusOr<PrivateKey> Generate(KeyType type);
  // PKCS#8 or traditional PEM; errors name `source` (the file).
  static absl::StatusOr<PrivateKey> FromPem(std::string_view pem, std::string_view source);
  // An Ed25519 key from its 32-byte seed (RFC 8032 test vectors).
  static absl::StatusOr<PrivateKey> FromEd25519Seed(std::string_view seed);
  std::string ToPem() const;  // PKCS#8
  KeyType type() const { return type_; }
  PublicKey Public() const;
  absl::StatusOr<std::string> Sign(std::string_view data) const;

 private:
  PrivateKey(PkeyPtr key, KeyType type) : key_(std::move(key)), type_(type) {}
  std::shared_ptr<EVP_PKEY> key_;
  KeyType type_;
};

// Reads a PEM private key file. NotFound when it does not exist; errors name the path.
absl::StatusOr<PrivateKey> LoadPrivateKey(const std::string& path);
// Writes `key` as PEM to `path`, created with mode 0600 (atomically: a temporary file renamed
// over it). AlreadyExists unless `overwrite`.
absl::Status SavePrivateKey(const PrivateKey& key, const std::string& path, bool overwrite);

// X25519 (RFC 7748) for the session handshake.
class X25519 {
 public:
  static absl::StatusOr<X25519> Generate();
  static absl::StatusOr<X25519> FromPrivate(std::string_view scalar);  // 32 bytes
  const std::string& public_key() const { return public_; }            // 32 bytes
  // The shared secret with `peer` (32 bytes); an error for a low-order peer key.
  absl::StatusOr<std::string> Agree(std::string_view peer) const;

 private:
  X25519(PkeyPtr key, std::string pub) : key_(std::move(key)), public_(std::move(pub)) {}
  std::shared_ptr<EVP_PKEY> key_;
  std::string public_;
};

// HKDF with SHA-256 (RFC 5869).
absl::StatusOr<std::string> HkdfSha256(std::string_view ikm, std::string_view salt,
                                       std::string_view info, size_t length);
std::string Sha256(std::string_view data);
std::string RandomBytes(size_t n);
std::string Hex(std::string_view bytes);
std::string Base64(std::string_view bytes);
// Base64 to bytes; nullopt on bad input.
std::optional<std::string> Unbase64(std::string_view text);
// Hex to bytes; empty on bad input (odd length or non-hex).
std::string Unhex(std::string_view hex);

// AES-256-GCM with a 12-byte nonce and 16-byte tag. The key schedule is set up once; each
// message then only sets its nonce, which is what makes millions of messages a second possible.
// Not thread-safe: one per thread (or per session).
class AesGcm {
 public:
  static constexpr size_t kTagSize = 16;
  static constexpr size_t kNonceSize = 12;
  static absl::StatusOr<AesGcm> Create(std::string_view key);  // 32 bytes
  AesGcm(AesGcm&&) noexcept;
  AesGcm& operator=(AesGcm&&) noexcept;
  ~AesGcm();
  // Appends ciphertext || tag to `out`.
  bool Seal(std::string_view nonce, std::string_view aad, std::string_view plaintext,
            std::string* out);
  // `sealed` is ciphertext || tag; appends the plaintext to `out`. False when the tag does not
  // verify (and `out` is left as it was).
  bool Open(std::string_view nonce, std::string_view aad, std::string_view sealed,
            std::string* out);

 private:
  AesGcm(EVP_CIPHER_CTX* enc, EVP_CIPHER_CTX* dec) : enc_(enc), dec_(dec) {}
  EVP_CIPHER_CTX* enc_ = nullptr;
  EVP_CIPHER_CTX* dec_ = nullptr;
};

}  // namespace edgeway::security
