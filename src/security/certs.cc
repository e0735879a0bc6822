#include "edgeway/security/certs.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>

#include "edgeway/core/strings.h"
#include "edgeway/security/crypto.h"

namespace edgeway::security {
namespace {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

absl::Status Error(std::string_view what) {
  char buffer[256] = "unknown error";
  if (unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buffer, sizeof(buffer));
  ERR_clear_error();
  return absl::InternalError(StrCat(what, ": ", buffer));
}

bool IsIp(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Error(StrCat("extension ", value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return absl::OkStatus();
}

// A certificate for `key`'s public half named `cn`, signed by `issuer_key` (itself when
// `issuer` is null).
absl::StatusOr<X509Ptr> Certify(const std::string& cn, EVP_PKEY* key, X509* issuer,
                                EVP_PKEY* issuer_key, int days,
                                const std::vector<std::pair<int, std::string>>& extensions) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  std::string serial = RandomBytes(16);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()), 16, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("edgeway"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  for (const auto& [nid, value] : extensions) {
    if (absl::Status s =
            AddExtension(cert.get(), issuer != nullptr ? issuer : cert.get(), nid, value);
        !s.ok()) {
      return s;
    }
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return Error("signing a certificate");
  return cert;
}

absl::Status WriteCert(X509* cert, const std::string& path) {
  FILE* f = fopen(path.c_str(), "w");
  if (f == nullptr) return absl::UnavailableError(StrCat(path, ": cannot write"));
  const bool ok = PEM_write_X509(f, cert) == 1;
  fclose(f);
  if (!ok) return Error(path);
  return absl::OkStatus();
}

absl::StatusOr<X509Ptr> ReadCert(const std::string& path) {
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return absl::NotFoundError(path);
  X509Ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
  fclose(f);
  if (!cert) return Error(path);
  return cert;
}

// Loads DIR/NAME.key, or makes it.
absl::StatusOr<PrivateKey> KeyFor(const std::string& dir, const std::string& name) {
  const std::string path = StrCat(dir, "/", name, ".key");
  auto key = LoadPrivateKey(path);
  if (key.ok() || key.status().code() != absl::StatusCode::kNotFound) return key;
  key = PrivateKey::Generate(KeyType::kEcdsaP256);
  if (!key.ok()) return key;
  if (absl::Status s = SavePrivateKey(*key, path, false); !s.ok()) return s;
  return key;
}

}  // namespace

absl::Status MakeCertificates(const CertificateOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return absl::UnavailableError(StrCat(o.dir, ": ", ec.message()));
  auto ca_key = KeyFor(o.dir, "ca");
  if (!ca_key.ok()) return ca_key.status();
  // Certificates are made from the key files, so the key's EVP_PKEY is what PEM holds.
  auto load = [&](const std::string& name) -> absl::StatusOr<PkeyPtr> {
    const std::string path = StrCat(o.dir, "/", name, ".key");
    FILE* f = fopen(path.c_str(), "r");
    if (f == nullptr) return absl::NotFoundError(path);
    PkeyPtr key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    fclose(f);
    if (!key) return Error(path);
    return key;
  };
  auto ca_pkey = load("ca");
  if (!ca_pkey.ok()) return ca_pkey.status();
  const std::string ca_path = o.dir + "/ca.crt";
  auto ca = ReadCert(ca_path);
  if (!ca.ok()) {
    ca = Certify("edgeway CA", ca_pkey->get(), nullptr, ca_pkey->get(), 3650,
                 {{NID_basic_constraints, "critical,CA:TRUE"},
                  {NID_key_usage, "critical,keyCertSign,cRLSign"},
                  {NID_subject_key_identifier, "hash"}});
    if (!ca.ok()) return ca.status();
    if (absl::Status s = WriteCert(ca->get(), ca_path); !s.ok()) return s;
  }
  std::string san;
  for (const std::string& host : o.hosts) {
    san += StrCat(san.empty() ? "" : ",", IsIp(host) ? "IP:" : "DNS:", host);
  }
  struct Leaf {
    std::string name, cn, usage, san;
  };
  std::vector<Leaf> leaves = {
      {"broker", o.hosts.empty() ? "broker" : o.hosts.front(), "serverAuth", san}};
  for (const std::string& client : o.clients) leaves.push_back({client, client, "clientAuth", ""});
  for (const Leaf& leaf : leaves) {
    if (auto k = KeyFor(o.dir, leaf.name); !k.ok()) return k.status();
    auto pkey = load(leaf.name);
    if (!pkey.ok()) return pkey.status();
    std::vector<std::pair<int, std::string>> ext = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature,keyAgreement"},
        {NID_ext_key_usage, leaf.usage},
        {NID_authority_key_identifier, "keyid"}};
    if (!leaf.san.empty()) ext.push_back({NID_subject_alt_name, leaf.san});
    auto cert = Certify(leaf.cn, pkey->get(), ca->get(), ca_pkey->get(), o.days, ext);
    if (!cert.ok()) return cert.status();
    if (absl::Status s = WriteCert(cert->get(), StrCat(o.dir, "/", leaf.name, ".crt")); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace edgeway::security
