#include <cstdio>

#include "app/commands.h"
#include "app/signals.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/log.h"
#include "edgeway/core/strings.h"
#include "edgeway/device/fleet.h"
#include "spdlog/spdlog.h"

namespace edgeway::app {

void AddDeviceCommand(CLI::App& app, DeviceFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "device",
      "The device agent. With --simulate N it runs a simulated fleet of N devices publishing "
      "temperature, humidity and battery readings (a daily cycle plus noise, and anomalies at "
      "known times) over one persistent MQTT connection; 20% of the devices speak the seed's "
      "Python-dict text, 20% SenML, the rest the seed's JSON.");
  cmd->add_option("--simulate", flags.simulate, "number of simulated devices")
      ->required()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--broker", flags.broker, "broker URL, e.g. tcp://127.0.0.1:1883")->required();
  cmd->add_option("--interval", flags.interval_s, "seconds between samples of one device")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  cmd->add_option("--duration", flags.duration_s, "stop after this many seconds (0: until Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--samples", flags.samples,
                  "stop after this many samples per device (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--qos", flags.qos, "MQTT QoS")->capture_default_str()->check(CLI::Range(0, 2));
  cmd->add_option("--anomaly-every", flags.anomaly_every,
                  "inject an anomaly every N samples per device (0: none)")
      ->capture_default_str();
  cmd->add_option("--bad-every", flags.bad_every,
                  "also publish one malformed message every N messages (0: none)")
      ->capture_default_str();
  cmd->add_option("--seed", flags.seed, "random seed")->capture_default_str();
  cmd->add_option("--log-level", flags.log_level, "log level")->capture_default_str();
}

int DeviceCommand(const DeviceFlags& flags) {
  if (absl::Status s = InitLogging(flags.log_level); !s.ok()) {
    std::fprintf(stderr, "edgeway device: --log-level: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }
  auto fleet = device::Fleet::Start({.broker_url = flags.broker,
                                     .devices = flags.simulate,
                                     .interval_s = flags.interval_s,
                                     .qos = flags.qos,
                                     .seed = flags.seed,
                                     .anomaly_every = flags.anomaly_every,
                                     .bad_every = flags.bad_every,
                                     .samples_per_device = flags.samples});
  if (!fleet.ok()) {
    spdlog::error("{}", fleet.status().message());
    return fleet.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  spdlog::info("simulating {} devices against {}", flags.simulate, flags.broker);
  const int64_t start = MonotonicNs();
  uint64_t last = 0;
  while (true) {
    if (Signals::Wait(std::chrono::milliseconds(1000)) != 0) break;
    if ((*fleet)->done()) break;
    if (flags.duration_s > 0 &&
        static_cast<double>(MonotonicNs() - start) / 1e9 >= flags.duration_s) {
      break;
    }
    uint64_t now = (*fleet)->messages_published();
    spdlog::info("published {} messages ({}/s), {} anomalies injected", now, now - last,
                 (*fleet)->injected().size());
    last = now;
  }
  (*fleet)->Stop();
  std::printf(
      "published %llu messages, %llu malformed on purpose, %zu anomalies injected, %llu "
      "publish errors\n",
      static_cast<unsigned long long>((*fleet)->messages_published()),
      static_cast<unsigned long long>((*fleet)->bad_published()), (*fleet)->injected().size(),
      static_cast<unsigned long long>((*fleet)->publish_errors()));
  return (*fleet)->publish_errors() == 0 ? kExitOk : kExitFailure;
}

}  // namespace edgeway::app
