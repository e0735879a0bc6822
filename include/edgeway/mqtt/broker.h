#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgeway::mqtt {

struct BrokerOptions {
  // The mosquitto executable; empty searches PATH, then /usr/sbin.
  std::string executable;
  // 0 picks a free port on 127.0.0.1.
  int port = 0;
  // Where the generated config, the log and (with persistence) the database go; empty makes a
  // temporary directory that is removed on Stop.
  std::string work_dir;
  // Keep sessions and queued messages across broker restarts (mosquitto's persistence).
  bool persistence = false;
  // More lines for mosquitto.conf (listeners, TLS, limits).
  std::vector<std::string> extra_config;
  // A second listener with TLS (edgeway certs makes the files). With
  // require_client_certificate, a client must present a certificate from `ca_file`; its common
  // name becomes its user name.
  struct Tls {
    std::string ca_file, cert_file, key_file;
    std::string bind = "127.0.0.1";
    int port = 0;  // 0: a free one
    bool require_client_certificate = true;
  };
  std::optional<Tls> tls;
};

// A mosquitto process that edgeway owns: started on 127.0.0.1 with a generated config, restarted
// if it dies, and stopped (SIGTERM, then SIGKILL) when this object is destroyed. The child is
// also killed if edgeway dies (PR_SET_PDEATHSIG). Thread-safe.
class EmbeddedBroker {
 public:
  // Starts mosquitto and waits until it accepts connections. Errors: NotFound when mosquitto is
  // not installed; Unavailable when it does not come up (the message quotes its log).
  static absl::StatusOr<std::unique_ptr<EmbeddedBroker>> Start(BrokerOptions options);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // tcp://127.0.0.1:PORT
  std::string url() const;
  int port() const;
  // ssl://BIND:PORT of the TLS listener; empty without one.
  std::string tls_url() const;
  const std::string& log_path() const;

  // Stops the process (for tests of broker loss); Resume starts it again on the same port.
  absl::Status Pause();
  absl::Status Resume();

  // Stops for good; idempotent.
  void Stop();

 private:
  struct Impl;
  explicit EmbeddedBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> PickFreePort();

}  // namespace edgeway::mqtt
