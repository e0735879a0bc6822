#include "edgeway/security/crypto.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "edgeway/core/check.h"
#include "edgeway/core/strings.h"

namespace edgeway::security {
namespace {

std::string OpensslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(e, buffer, sizeof(buffer));
  ERR_clear_error();
  return buffer;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<KeyType> TypeOf(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyType::kEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len) == 1 &&
        std::string_view(group) == "prime256v1") {
      return KeyType::kEcdsaP256;
    }
    return absl::InvalidArgumentError(StrCat("EC key on curve '", group, "': only P-256"));
  }
  return absl::InvalidArgumentError("key is neither ECDSA P-256 nor Ed25519");
}

const EVP_MD* DigestFor(KeyType type) {
  return type == KeyType::kEcdsaP256 ? EVP_sha256() : nullptr;  // Ed25519 hashes internally
}

}  // namespace

const char* KeyTypeName(KeyType type) {
  return type == KeyType::kEd25519 ? "ed25519" : "ecdsa-p256";
}

void PkeyDeleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

absl::StatusOr<PublicKey> PublicKey::FromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError(StrCat("not a PEM public key: ", OpensslError()));
  auto type = TypeOf(key.get());
  if (!type.ok()) return type.status();
  return PublicKey(std::move(key), *type);
}

std::string PublicKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  return BioString(bio.get());
}

bool PublicKey::Verify(std::string_view data, std::string_view signature) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, DigestFor(type_), nullptr, key_.get()) != 1) {
    ERR_clear_error();
    return false;
  }
  int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size());
  if (ok != 1) ERR_clear_error();
  return ok == 1;
}

std::string PublicKey::Raw() const {
  if (type_ == KeyType::kEd25519) {
    std::string out(32, '\0');
    size_t n = out.size();
    EVP_PKEY_get_raw_public_key(key_.get(), reinterpret_cast<unsigned char*>(out.data()), &n);
    return out;
  }
  std::string out(65, '\0');
  size_t n = 0;
  EVP_PKEY_get_octet_string_param(key_.get(), "encoded-pub-key",
                                  reinterpret_cast<unsigned char*>(out.data()), out.size(), &n);
  out.resize(n);
  return out;
}

std::string PublicKey::Fingerprint() const {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key_.get(), &der);
  std::string hash = Sha256(std::string_view(reinterpret_cast<char*>(der), n > 0 ? n : 0));
  OPENSSL_free(der);
  return Hex(hash);
}

absl::StatusOr<PrivateKey> PrivateKey::Generate(KeyType type) {
  EVP_PKEY* key = type == KeyType::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                            : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) return absl::InternalError(StrCat("key generation: ", OpensslError()));
  return PrivateKey(PkeyPtr(key), type);
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(std::string_view pem, std::string_view source) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(StrCat(source, ": not a PEM private key: ", OpensslError()));
  }
  auto type = TypeOf(key.get());
  if (!type.ok()) return absl::InvalidArgumentError(StrCat(source, ": ", type.status().message()));
  return PrivateKey(std::move(key), *type);
}

absl::StatusOr<PrivateKey> PrivateKey::FromEd25519Seed(std::string_view seed) {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
  if (!key) return absl::InvalidArgumentError(StrCat("Ed25519 seed: ", OpensslError()));
  return PrivateKey(std::move(key), KeyType::kEd25519);
}

std::string PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return BioString(bio.get());
}

PublicKey PrivateKey::Public() const {
  // The same EVP_PKEY verifies: it carries the public half.
  PublicKey pub(nullptr, type_);
  pub.key_ = key_;
  return pub;
}

absl::StatusOr<std::string> PrivateKey::Sign(std::string_view data) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (EVP_DigestSignInit(ctx.get(), nullptr, DigestFor(type_), nullptr, key_.get()) != 1) {
    return absl::InternalError(StrCat("sign: ", OpensslError()));
  }
  size_t n = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &n, in, data.size()) != 1) {
    return absl::InternalError(StrCat("sign: ", OpensslError()));
  }
  std::string sig(n, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n, in,
                     data.size()) != 1) {
    return absl::InternalError(StrCat("sign: ", OpensslError()));
  }
  sig.resize(n);
  return sig;
}

absl::StatusOr<PrivateKey> LoadPrivateKey(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot open the key file"));
  std::stringstream text;
  text << in.rdbuf();
  return PrivateKey::FromPem(text.str(), path);
}

absl::Status SavePrivateKey(const PrivateKey& key, const std::string& path, bool overwrite) {
  if (!overwrite && std::filesystem::exists(path)) {
    return absl::AlreadyExistsError(StrCat(path, " exists; keep it, or pass --force"));
  }
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return absl::UnavailableError(StrCat(tmp, ": ", std::strerror(errno)));
  const std::string pem = key.ToPem();
  const bool written =
      write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size()) && fsync(fd) == 0;
  close(fd);
  std::error_code ec;
  if (written) std::filesystem::rename(tmp, path, ec);
  if (!written || ec) {
    std::filesystem::remove(tmp, ec);
    return absl::UnavailableError(StrCat(path, ": cannot write the key"));
  }
  return absl::OkStatus();
}

absl::StatusOr<X25519> X25519::Generate() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  if (!key) return absl::InternalError(StrCat("X25519 keygen: ", OpensslError()));
  std::string pub(32, '\0');
  size_t n = pub.size();
  EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pub.data()), &n);
  return X25519(std::move(key), std::move(pub));
}

absl::StatusOr<X25519> X25519::FromPrivate(std::string_view scalar) {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr,
                                           reinterpret_cast<const unsigned char*>(scalar.data()),
                                           scalar.size()));
  if (!key) return absl::InvalidArgumentError(StrCat("X25519 private key: ", OpensslError()));
  std::string pub(32, '\0');
  size_t n = pub.size();
  EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pub.data()), &n);
  return X25519(std::move(key), std::move(pub));
}

absl::StatusOr<std::string> X25519::Agree(std::string_view peer) const {
  PkeyPtr peer_key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_X25519, nullptr, reinterpret_cast<const unsigned char*>(peer.data()), peer.size()));
  if (!peer_key) return absl::InvalidArgumentError(StrCat("X25519 peer key: ", OpensslError()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  size_t n = 32;
  std::string secret(n, '\0');
  if (EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer_key.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &n) != 1) {
    return absl::InvalidArgumentError(StrCat("X25519: ", OpensslError()));
  }
  return secret;
}

absl::StatusOr<std::string> HkdfSha256(std::string_view ikm, std::string_view salt,
                                       std::string_view info, size_t length) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  std::string out(length, '\0');
  auto bytes = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  if (EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), bytes(salt), static_cast<int>(salt.size())) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), bytes(ikm), static_cast<int>(ikm.size())) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), bytes(info), static_cast<int>(info.size())) != 1 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length) != 1) {
    return absl::InternalError(StrCat("HKDF: ", OpensslError()));
  }
  return out;
}

std::string Sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int n = 32;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &n,
             EVP_sha256(), nullptr);
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  EDGEWAY_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1);
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Unbase64(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t padding = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string Unhex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return {};
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

absl::StatusOr<AesGcm> AesGcm::Create(std::string_view key) {
  if (key.size() != 32) return absl::InvalidArgumentError("AES-256-GCM needs a 32-byte key");
  EVP_CIPHER_CTX* enc = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* dec = EVP_CIPHER_CTX_new();
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  AesGcm gcm(enc, dec);  // frees both on error
  if (EVP_EncryptInit_ex(enc, EVP_aes_256_gcm(), nullptr, k, nullptr) != 1 ||
      EVP_DecryptInit_ex(dec, EVP_aes_256_gcm(), nullptr, k, nullptr) != 1) {
    return absl::InternalError(StrCat("AES-GCM: ", OpensslError()));
  }
  return gcm;
}

AesGcm::AesGcm(AesGcm&& o) noexcept
    : enc_(std::exchange(o.enc_, nullptr)), dec_(std::exchange(o.dec_, nullptr)) {}
AesGcm& AesGcm::operator=(AesGcm&& o) noexcept {
  std::swap(enc_, o.enc_);
  std::swap(dec_, o.dec_);
  return *this;
}
AesGcm::~AesGcm() {
  EVP_CIPHER_CTX_free(enc_);
  EVP_CIPHER_CTX_free(dec_);
}

bool AesGcm::Seal(std::string_view nonce, std::string_view aad, std::string_view plaintext,
                  std::string* out) {
  if (nonce.size() != kNonceSize) return false;
  const size_t at = out->size();
  out->resize(at + plaintext.size() + kTagSize);
  auto* dst = reinterpret_cast<unsigned char*>(out->data() + at);
  int n = 0;
  if (EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      (!aad.empty() &&
       EVP_EncryptUpdate(enc_, nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                         static_cast<int>(aad.size())) != 1) ||
      EVP_EncryptUpdate(enc_, dst, &n, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(enc_, dst + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_GCM_GET_TAG, kTagSize, dst + plaintext.size()) != 1) {
    out->resize(at);
    return false;
  }
  return true;
}

bool AesGcm::Open(std::string_view nonce, std::string_view aad, std::string_view sealed,
                  std::string* out) {
  if (nonce.size() != kNonceSize || sealed.size() < kTagSize) return false;
  const size_t length = sealed.size() - kTagSize;
  const size_t at = out->size();
  out->resize(at + length);
  auto* dst = reinterpret_cast<unsigned char*>(out->data() + at);
  int n = 0;
  unsigned char tag[kTagSize];
  std::memcpy(tag, sealed.data() + length, kTagSize);
  if (EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      (!aad.empty() &&
       EVP_DecryptUpdate(dec_, nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                         static_cast<int>(aad.size())) != 1) ||
      EVP_DecryptUpdate(dec_, dst, &n, reinterpret_cast<const unsigned char*>(sealed.data()),
                        static_cast<int>(length)) != 1 ||
      EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1 ||
      EVP_DecryptFinal_ex(dec_, dst + n, &n) != 1) {
    out->resize(at);
    ERR_clear_error();
    return false;
  }
  return true;
}

}  // namespace edgeway::security
