#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <mutex>

#include "app/commands.h"
#include "app/node.h"
#include "app/signals.h"
#include "edgeway/core/check.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/log.h"
#include "edgeway/core/strings.h"
#include "edgeway/device/fleet.h"
#include "edgeway/gateway/gateway.h"
#include "edgeway/store/store.h"
#include "edgeway/stream/analytics.h"
#include "fmt/chrono.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace edgeway::app {

void AddDemoCommand(CLI::App& app, DemoFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "The whole data path on one machine: starts mosquitto on a free local port, a gateway, and "
      "a simulated fleet with spikes and stuck sensors injected at known times; shows "
      "messages/s, devices, anomalies and the latest insights live; prints (and with "
      "--summary-json writes) what was injected and what was detected. Stops after --duration or "
      "on Ctrl-C.");
  cmd->add_option("--devices", flags.devices, "simulated devices")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--duration", flags.duration_s, "seconds to run (0: until Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--interval", flags.interval_s, "seconds between samples of one device")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 3600.0));
  cmd->add_option("--anomaly-every", flags.anomaly_every,
                  "inject an anomaly every N samples per device (0: none)")
      ->capture_default_str();
  cmd->add_option(
         "--detector", flags.detector,
         fmt::format("sigma (the seed's 3-sigma rule, judging after {} samples) or "
                     "ensemble (the NAB-scored detector, judging after {} samples, and "
                     "spikes are injected after those; with --interval 0.1 that is {:g} s)",
                     stream::AnalyticsOptions{}.min_samples,
                     stream::AnalyticsOptions{}.ensemble_warmup,
                     0.1 * static_cast<double>(stream::AnalyticsOptions{}.ensemble_warmup)))
      ->capture_default_str()
      ->check(CLI::IsMember({"sigma", "ensemble"}));
  cmd->add_option("--store", flags.store, "SQLite file for the demo's readings (replaced)")
      ->capture_default_str();
  cmd->add_option("--summary-json", flags.summary_json, "write the summary as JSON here at exit");
  cmd->add_option("--http", flags.http,
                  "dashboard at host:port (a free port if taken; 'off' for none)")
      ->capture_default_str();
  cmd->add_option("--log-level", flags.log_level, "log level")->capture_default_str();
}

namespace {

// Keeps the newest insights for the live view. Thread-safe.
class RecentInsights {
 public:
  void Add(std::span<const Insight> insights) {
    std::lock_guard lock(mu_);
    for (const Insight& in : insights) {
      recent_.push_back(in);
      if (recent_.size() > 5) recent_.pop_front();
    }
  }
  std::vector<Insight> Get() const {
    std::lock_guard lock(mu_);
    return {recent_.begin(), recent_.end()};
  }

 private:
  mutable std::mutex mu_;
  std::deque<Insight> recent_;
};

// What the fleet injected, spikes and stuck sensors apart.
struct Injected {
  std::vector<device::InjectedAnomaly> spikes, stuck;
};

Injected Split(std::vector<device::InjectedAnomaly> all) {
  Injected out;
  for (device::InjectedAnomaly& a : all) {
    (a.kind == Insight::Kind::kStuck ? out.stuck : out.spikes).push_back(std::move(a));
  }
  return out;
}

std::string Clock(double seconds) {
  int s = static_cast<int>(seconds);
  return fmt::format("{:02d}:{:02d}", s / 60, s % 60);
}

std::string RejectLine(const gateway::GatewayStats& s) {
  std::string parts;
  for (size_t r = 0; r < kRejectReasonCount; ++r) {
    if (s.rejected[r] == 0) continue;
    if (!parts.empty()) parts += ", ";
    parts += fmt::format("{} {}", RejectReasonName(static_cast<RejectReason>(r)), s.rejected[r]);
  }
  return parts.empty() ? "none" : parts;
}

}  // namespace

int DemoCommand(const DemoFlags& flags) {
  if (absl::Status s = InitLogging(flags.log_level); !s.ok()) {
    std::fprintf(stderr, "edgeway demo: --log-level: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ec;
    std::filesystem::remove(flags.store + suffix, ec);
  }
  // The defaults, plus a 10 s event-time window so that window results show from the start.
  auto config = gateway::ParseConfig(
      "windows:\n"
      "  - {name: 10s, type: tumbling, size_s: 10, watermark_delay_s: 2, allowed_lateness_s: 30}\n",
      "(demo)");
  EDGEWAY_CHECK(config.ok());
  config->store.path = flags.store;
  const bool ensemble = flags.detector == "ensemble";
  if (ensemble) config->analytics.detector = stream::DetectorKind::kEnsemble;
  config->mqtt.client_id = fmt::format("edgeway-demo-{}", getpid());
  config->http.listen = flags.http;
  RecentInsights recent;
  auto node = Node::Start(
      *config, [&recent](const ResultBatch& committed) { recent.Add(committed.insights); },
      /*any_free_port=*/true);
  if (!node.ok()) {
    spdlog::error("{}", node.status().message());
    return node.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  gateway::Gateway* gw = &(*node)->gateway();
  const device::FleetOptions fleet_options{
      .broker_url = gw->broker_url(),
      .devices = flags.devices,
      .interval_s = flags.interval_s,
      .anomaly_every = flags.anomaly_every,
      .anomaly_after =
          ensemble ? config->analytics.ensemble_warmup : device::FleetOptions{}.anomaly_after,
      .bad_every = 200};
  auto fleet = device::Fleet::Start(fleet_options);
  if (!fleet.ok()) {
    spdlog::error("{}", fleet.status().message());
    return kExitFailure;
  }

  const bool tty = isatty(STDOUT_FILENO) != 0;
  std::printf(
      "edgeway demo: %zu devices every %.3g s for %s; detector %s; broker %s; store %s\n",
      flags.devices, flags.interval_s,
      flags.duration_s > 0 ? fmt::format("{:g} s", flags.duration_s).c_str() : "until Ctrl-C",
      flags.detector.c_str(), gw->broker_url().c_str(), flags.store.c_str());
  if (!(*node)->dashboard_url().empty()) {
    std::printf("dashboard: %s\n", (*node)->dashboard_url().c_str());
  }
  std::printf("Ctrl-C stops it; the summary follows.\n\n");
  const int64_t start = MonotonicNs();
  // The ensemble judges a sensor from its warmup-th sample on; spikes are injected after that.
  const double learning_s =
      ensemble ? static_cast<double>(config->analytics.ensemble_warmup) * flags.interval_s : 0;
  uint64_t last_messages = 0;
  int64_t last_ns = start;
  int drawn_lines = 0;
  int tick = 0;
  while (true) {
    int sig = Signals::Wait(std::chrono::milliseconds(1000));
    const int64_t now = MonotonicNs();
    const double elapsed = static_cast<double>(now - start) / 1e9;
    gateway::GatewayStats s = gw->stats();
    double rate = static_cast<double>(s.messages_received - last_messages) /
                  (static_cast<double>(now - last_ns) / 1e9);
    last_messages = s.messages_received;
    last_ns = now;
    ++tick;
    const Injected injected = Split((*fleet)->injected());
    std::vector<std::string> lines = {
        fmt::format("  {} {}  messages/s {:>7.0f}  received {:>9}  devices {:>6}  stored {:>9}",
                    Clock(elapsed), flags.duration_s > 0 ? "/ " + Clock(flags.duration_s) : "",
                    rate, s.messages_received, s.devices, s.readings_stored),
        fmt::format(
            "  anomalies detected {:>5}  injected {:>5}   stuck sensors found {:>3}  "
            "injected {:>3}   window results {:>6}  late {:>4}{}",
            s.anomalies_detected, injected.spikes.size(), s.stuck_sensors, injected.stuck.size(),
            s.window_results_stored, s.late_readings,
            elapsed < learning_s
                ? fmt::format("   (learning: the ensemble judges after {} samples, in {:.0f} s)",
                              config->analytics.ensemble_warmup, learning_s - elapsed)
                : ""),
        fmt::format("  rejected: {}", RejectLine(s)), "  latest insights:"};
    for (const Insight& in : recent.Get()) {
      lines.push_back(fmt::format("    [{}] {} ({:.0f}%)", InsightKindName(in.kind), in.summary,
                                  100 * in.confidence));
    }
    if (tty) {
      if (drawn_lines > 0) std::printf("\x1b[%dA", drawn_lines);
      for (const std::string& line : lines) std::printf("\x1b[2K%s\n", line.c_str());
      drawn_lines = static_cast<int>(lines.size());
    } else if (tick % 5 == 0) {
      std::printf("%s\n%s\n%s\n", lines[0].c_str(), lines[1].c_str(), lines[2].c_str());
    }
    std::fflush(stdout);
    if (sig != 0 || (flags.duration_s > 0 && elapsed >= flags.duration_s)) break;
  }

  // Stop the fleet (its QoS 1 messages acknowledged), let the gateway take in what is in flight,
  // then drain and flush.
  (*fleet)->Stop();
  const uint64_t sent = (*fleet)->messages_published() + (*fleet)->bad_published();
  const int64_t drain_deadline = MonotonicNs() + 10 * kNsPerSecond;
  while (gw->stats().messages_received < sent && MonotonicNs() < drain_deadline) {
    Signals::Wait(std::chrono::milliseconds(20));
  }
  (*node)->Stop();

  // A stuck sensor is found some readings after it sticks.
  const auto [spikes, stuck] = Split((*fleet)->injected());
  size_t spikes_detected = 0, stuck_detected = 0, anomaly_insights = 0;
  auto store = store::Store::Open({.path = flags.store, .read_only = true});
  if (store.ok()) {
    auto insights = (*store)->Insights({.limit = INT64_MAX});
    if (insights.ok()) {
      const auto tolerance = static_cast<int64_t>(flags.interval_s * 0.5e9);
      spikes_detected =
          device::CountDetected(spikes, *insights, tolerance, /*late_ns=*/kNsPerSecond);
      anomaly_insights = static_cast<size_t>(
          std::count_if(insights->begin(), insights->end(),
                        [](const Insight& in) { return in.kind == Insight::Kind::kAnomaly; }));
      stuck_detected = device::CountDetected(
          stuck, *insights, tolerance,
          kNsPerSecond + static_cast<int64_t>(static_cast<double>(fleet_options.stuck_samples) *
                                              flags.interval_s * 1e9));
    }
  }
  nlohmann::json summary = gw->Summary();
  summary["messages_published"] = (*fleet)->messages_published();
  summary["malformed_published"] = (*fleet)->bad_published();
  summary["anomalies_injected"] = spikes.size();
  summary["anomalies_injected_detected"] = spikes_detected;
  // The simulated signal is a daily sine and Gaussian noise: an anomaly anywhere else is false.
  summary["false_alarms"] = anomaly_insights - spikes_detected;
  summary["stuck_injected"] = stuck.size();
  summary["stuck_injected_detected"] = stuck_detected;
  summary["duration_s"] = static_cast<double>(MonotonicNs() - start) / 1e9;
  std::printf("\nsummary:\n%s\n", summary.dump(2).c_str());
  if (!flags.summary_json.empty() && !WriteSummary(flags.summary_json, summary.dump(2))) {
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace edgeway::app
