#pragma once

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"
#include "edgeway/api/server.h"
#include "edgeway/gateway/gateway.h"

namespace edgeway::app {

// A gateway and, unless http.listen is "off", its HTTP server (dashboard, API, metrics), wired
// so that every store commit, and every retention step, reaches the live views.
class Node {
 public:
  // `on_commit` is called after the HTTP server saw the commit. With `any_free_port`, a taken
  // http port falls back to a free one instead of failing.
  static absl::StatusOr<std::unique_ptr<Node>> Start(const gateway::GatewayConfig& config,
                                                     store::CommitObserver on_commit,
                                                     bool any_free_port);
  ~Node() { Stop(); }

  // Drains and stops the gateway, then the HTTP server. Idempotent.
  void Stop();

  gateway::Gateway& gateway() { return *gateway_; }
  // Empty when HTTP is off.
  std::string dashboard_url() const { return api_ ? api_->url() + "/" : ""; }

 private:
  std::shared_ptr<std::atomic<api::ApiServer*>> live_ =
      std::make_shared<std::atomic<api::ApiServer*>>(nullptr);
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<api::ApiServer> api_;
};

}  // namespace edgeway::app
