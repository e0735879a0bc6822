#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace edgeway::security {

struct CertificateOptions {
  std::string dir;  // where the files go (created if missing)
  int days = 825;   // validity of the broker's and clients' certificates (the CA's: 10 years)
  // Names the broker answers to: IP addresses and DNS names for its subjectAltName.
  std::vector<std::string> hosts = {"127.0.0.1", "localhost"};
  // Client certificates to make (their common name; mosquitto can take it as the user name).
  std::vector<std::string> clients;
};

// Makes a private CA (ca.key, ca.crt), a broker certificate (broker.key, broker.crt) for
// `hosts`, and a certificate per client (NAME.key, NAME.crt), ECDSA P-256 and SHA-256, keys mode
// 0600. An existing CA in `dir` is reused so that more clients can be added later.
absl::Status MakeCertificates(const CertificateOptions& options);

}  // namespace edgeway::security
