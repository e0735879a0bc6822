#include "app/node.h"

namespace edgeway::app {

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const gateway::GatewayConfig& config,
                                                  store::CommitObserver on_commit,
                                                  bool any_free_port) {
  auto node = std::unique_ptr<Node>(new Node());
  auto gw = gateway::Gateway::Start(
      {.config = config,
       .on_commit =
           [live = node->live_, on_commit](const ResultBatch& committed) {
             if (api::ApiServer* server = live->load(std::memory_order_acquire)) {
               server->Publish(committed);
             }
             if (on_commit) on_commit(committed);
           },
       .on_expire =
           [live = node->live_](const store::Expired& expired) {
             if (api::ApiServer* server = live->load(std::memory_order_acquire)) {
               server->Expire(expired);
             }
           }});
  if (!gw.ok()) return gw.status();
  node->gateway_ = std::move(*gw);
  if (config.http.listen != "off") {
    api::ApiOptions options{.listen = config.http.listen, .token = config.http.token};
    auto server = api::ApiServer::Start(options, node->gateway_.get());
    if (!server.ok() && any_free_port && server.status().code() == absl::StatusCode::kUnavailable) {
      options.listen = config.http.listen.substr(0, config.http.listen.rfind(':')) + ":0";
      server = api::ApiServer::Start(options, node->gateway_.get());
    }
    if (!server.ok()) return server.status();
    node->api_ = std::move(*server);
    node->live_->store(node->api_.get(), std::memory_order_release);
    node->api_->SeedDirectory();  // now that every commit reaches it
  }
  return node;
}

void Node::Stop() {
  if (gateway_) gateway_->Stop();  // no commits after this
  live_->store(nullptr, std::memory_order_release);
  if (api_) api_->Stop();
}

}  // namespace edgeway::app
