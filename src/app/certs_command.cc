// edgeway certs: a private CA with broker and client certificates for mTLS to the broker.
#include <cstdio>

#include "app/commands.h"
#include "edgeway/security/certs.h"

namespace edgeway::app {

void AddCertsCommand(CLI::App& app, CertsFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "certs",
      "Makes what mutual TLS to the broker needs: a private CA (ca.key, ca.crt; reused when "
      "present, so clients can be added later), a broker certificate for --host names "
      "(broker.key, broker.crt) and a certificate per --client (NAME.key, NAME.crt). ECDSA "
      "P-256 and SHA-256; private keys mode 0600. Point mqtt.embedded_tls (or your mosquitto's "
      "cafile/certfile/keyfile and require_certificate) at them.");
  cmd->add_option("--out", flags.out, "directory for the files")->capture_default_str();
  cmd->add_option("--host", flags.hosts,
                  "a name or IP address the broker answers to (repeatable; default 127.0.0.1 "
                  "and localhost)");
  cmd->add_option("--client", flags.clients, "a client certificate to make (repeatable)");
  cmd->add_option("--days", flags.days, "validity of the broker and client certificates")
      ->capture_default_str()
      ->check(CLI::Range(1, 3650));
}

int CertsCommand(const CertsFlags& flags) {
  security::CertificateOptions options{
      .dir = flags.out, .days = flags.days, .clients = flags.clients};
  if (!flags.hosts.empty()) options.hosts = flags.hosts;
  if (absl::Status s = security::MakeCertificates(options); !s.ok()) {
    std::fprintf(stderr, "edgeway certs: %s\n", std::string(s.message()).c_str());
    return kExitFailure;
  }
  std::printf("wrote %s/ca.crt, broker.crt", flags.out.c_str());
  for (const std::string& c : flags.clients) std::printf(", %s.crt", c.c_str());
  std::printf(" (and their keys)\n");
  return kExitOk;
}

}  // namespace edgeway::app
