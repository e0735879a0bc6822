#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "app/commands.h"
#include "app/node.h"
#include "app/signals.h"
#include "edgeway/core/log.h"
#include "edgeway/core/strings.h"
#include "edgeway/gateway/gateway.h"
#include "spdlog/spdlog.h"

namespace edgeway::app {

void AddRunCommand(CLI::App& app, RunFlags& flags) {
  CLI::App* run = app.add_subcommand(
      "run",
      "Run the gateway: subscribe to device telemetry, analyse it, store it, and forward it "
      "upstream when an upstream broker is set. With no broker configured it starts its own "
      "mosquitto on 127.0.0.1. Stops cleanly on Ctrl-C or SIGTERM: queues are drained and the "
      "store flushed.");
  run->add_option("-c,--config", flags.config,
                  "YAML config (see edgeway.example.yaml); without it the defaults apply")
      ->check(CLI::ExistingFile);
  run->add_option("--broker", flags.broker,
                  "broker URL (tcp://host:port or ssl://host:port); "
                  "overrides mqtt.broker");
  run->add_option("--upstream", flags.upstream,
                  "forward to this broker (tcp://host:port or ssl://host:port) as SenML on "
                  "{upstream.prefix}/{device}/senml, through an outbox that survives outages "
                  "and restarts; overrides upstream.url");
  run->add_option("--store", flags.store, "SQLite file; overrides store.path");
  run->add_option("--summary-json", flags.summary_json,
                  "write the run's counters as JSON here on exit");
  run->add_option("--http", flags.http,
                  "dashboard, API and /metrics at host:port (port 0: any free one), or 'off'; "
                  "overrides http.listen");
  run->add_option("--log-level", flags.log_level,
                  "trace, debug, info, warn, error or off; "
                  "overrides log.level");
}

bool WriteSummary(const std::string& path, const std::string& json) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << json << "\n";
    if (!out) {
      spdlog::error("{}: cannot write summary", path);
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    spdlog::error("{}: {}", path, ec.message());
    return false;
  }
  return true;
}

int RunCommand(const RunFlags& flags) {
  absl::StatusOr<gateway::GatewayConfig> config = flags.config.empty()
                                                      ? gateway::ParseConfig("", "(defaults)")
                                                      : gateway::LoadConfig(flags.config);
  if (!config.ok()) {
    std::fprintf(stderr, "edgeway run: %s\n", std::string(config.status().message()).c_str());
    return kExitUsage;
  }
  if (!flags.broker.empty()) config->mqtt.broker = flags.broker;
  if (!flags.upstream.empty()) config->upstream.url = flags.upstream;
  if (!flags.store.empty()) config->store.path = flags.store;
  if (!flags.log_level.empty()) config->log_level = flags.log_level;
  if (!flags.http.empty()) config->http.listen = flags.http;
  if (absl::Status s = InitLogging(config->log_level); !s.ok()) {
    std::fprintf(stderr, "edgeway run: --log-level: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }

  auto node = Node::Start(*config, nullptr, /*any_free_port=*/false);
  if (!node.ok()) {
    spdlog::error("{}", node.status().message());
    return node.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  gateway::Gateway& gw = (*node)->gateway();
  spdlog::info("edgeway running; Ctrl-C to stop");
  int sig = 0;
  while ((sig = Signals::Wait(std::chrono::milliseconds(1000))) == 0) {
  }
  spdlog::info("signal {}: draining and stopping", sig);
  (*node)->Stop();
  nlohmann::json summary = gw.Summary();
  // The most memory the process held, the stop's final save included: what a device needs.
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) summary["peak_resident_bytes"] = usage.ru_maxrss * 1024;
  spdlog::info("stopped: {}", summary.dump());
  if (!flags.summary_json.empty() && !WriteSummary(flags.summary_json, summary.dump(2))) {
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace edgeway::app
