#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "app/commands.h"
#include "app/signals.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/log.h"
#include "edgeway/core/strings.h"
#include "edgeway/device/agent.h"
#include "edgeway/device/fleet.h"
#include "edgeway/security/crypto.h"
#include "edgeway/telemetry/decoder.h"
#include "spdlog/spdlog.h"

namespace edgeway::app {

void AddDeviceCommand(CLI::App& app, DeviceFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "device",
      "The device agent. It reads real sensors (Linux hwmon, thermal zones, IIO; Modbus TCP "
      "registers) or simulated ones, and publishes SenML on devices/{id}/telemetry over one "
      "persistent MQTT session, through an on-disk queue that keeps everything sampled while "
      "the broker is unreachable. It sends a value only when it moved past --deadband (or "
      "every --heartbeat), stretches the sampling period while nothing moves, applies the "
      "twin's desired interval_s, deadband, max_interval_s, heartbeat_s and actuators (--led, "
      "--gpio), and reports them back. With --simulate N it runs a simulated fleet of N devices "
      "instead (the demo's).");
  cmd->add_option("--broker", flags.broker, "broker URL, e.g. tcp://127.0.0.1:1883")->required();
  cmd->add_option("--id", flags.id,
                  "device id (default: from the hardware, as edgeway keys show prints it)");
  cmd->add_flag("--hwmon", flags.hwmon, "read Linux hwmon sensors (temperatures, voltages, fans)");
  cmd->add_flag("--thermal", flags.thermal, "read Linux thermal zones");
  cmd->add_flag("--iio", flags.iio, "read Linux IIO channels (ADCs, environmental sensors)");
  cmd->add_option("--sysfs-root", flags.sysfs_root, "where sysfs is mounted")
      ->capture_default_str();
  cmd->add_option("--modbus", flags.modbus, "Modbus TCP server, tcp://host:port");
  cmd->add_option("--modbus-unit", flags.modbus_unit, "Modbus unit (slave) id")
      ->capture_default_str()
      ->check(CLI::Range(0, 247));
  cmd->add_option("--register", flags.registers,
                  "Modbus register to read: NAME=ADDRESS[:holding|input][*SCALE][@UNIT], e.g. "
                  "temperature=100:input*0.1@Cel (repeatable)");
  cmd->add_flag("--simulated", flags.simulated, "simulated temperature and humidity");
  cmd->add_option("--interval", flags.interval_s, "seconds between samples")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  cmd->add_option("--max-interval", flags.max_interval_s,
                  "adaptive sampling stretches the period up to this while values are steady")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  cmd->add_option("--deadband", flags.deadband,
                  "publish a sensor only when it moved more than this since last sent")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--heartbeat", flags.heartbeat_s,
                  "... or when this many seconds passed since it was last sent")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--queue", flags.queue, "on-disk queue (SQLite) for when the broker is away")
      ->capture_default_str();
  cmd->add_option("--led", flags.leds,
                  "NAME=DIR: the desired twin property NAME drives the LED at DIR, e.g. "
                  "status=/sys/class/leds/led0 (repeatable)");
  cmd->add_option("--gpio", flags.gpios,
                  "NAME=CHIP:LINE: the desired property NAME drives a GPIO output, e.g. "
                  "relay=gpiochip0:17 (repeatable)");
  cmd->add_option("--key", flags.key, "the device's private key (edgeway keys gen)");
  cmd->add_option("--protect", flags.protect,
                  "none; sign (every message signed with --key); or seal (AES-256-GCM under a "
                  "session agreed with the gateway, authenticated by --key)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "sign", "seal"}));
  cmd->add_option(
      "--gateway-key", flags.gateway_key,
      "seal: the gateway's public key (PEM); the handshake then checks the gateway too");
  cmd->add_option("--tls-ca", flags.tls_ca, "ssl:// brokers: the CA certificate (edgeway certs)");
  cmd->add_option("--tls-cert", flags.tls_cert, "ssl:// brokers: this device's certificate");
  cmd->add_option("--tls-key", flags.tls_key, "ssl:// brokers: this device's TLS key");
  cmd->add_option("--summary-json", flags.summary_json, "write the agent's counters here at exit");
  cmd->add_option("--simulate", flags.simulate, "simulate a fleet of N devices instead")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--duration", flags.duration_s, "stop after this many seconds (0: until Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--samples", flags.samples,
                  "--simulate: stop after this many samples per device (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--qos", flags.qos, "MQTT QoS")->capture_default_str()->check(CLI::Range(0, 2));
  cmd->add_option("--anomaly-every", flags.anomaly_every,
                  "--simulate: inject an anomaly every N samples per device (0: none)")
      ->capture_default_str();
  cmd->add_option("--stuck-every", flags.stuck_every,
                  StrCat("--simulate: one device in N has one sensor stuck at one value for ",
                         device::FleetOptions{}.stuck_samples, " samples, once (0: none)"))
      ->capture_default_str();
  cmd->add_option("--bad-every", flags.bad_every,
                  "--simulate: also publish one malformed message every N messages (0: none)")
      ->capture_default_str();
  cmd->add_option("--seed", flags.seed, "random seed")->capture_default_str();
  cmd->add_option("--log-level", flags.log_level, "log level")->capture_default_str();
}

namespace {

// Splits "NAME=VALUE"; false when there is no '=' or either side is empty.
bool SplitAssignment(const std::string& text, std::string* name, std::string* value) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) return false;
  *name = text.substr(0, eq);
  *value = text.substr(eq + 1);
  return true;
}

// The hardware's id (as edgeway keys show prints it), else the host name.
std::string DefaultDeviceId() {
  if (std::string id = HardwareDeviceId(); !id.empty()) return id;
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "edgeway-device";
  std::string name(buffer);
  return IsValidDeviceId(name) ? name : "edgeway-device";
}

int AgentCommand(const DeviceFlags& flags) {
  auto usage = [](const std::string& message) {
    std::fprintf(stderr, "edgeway device: %s\n", message.c_str());
    return kExitUsage;
  };
  device::AgentOptions options{.device_id = flags.id.empty() ? DefaultDeviceId() : flags.id,
                               .broker_url = flags.broker,
                               .queue_path = flags.queue,
                               .sampling = {.interval_s = flags.interval_s,
                                            .max_interval_s = flags.max_interval_s,
                                            .deadband = flags.deadband,
                                            .heartbeat_s = flags.heartbeat_s},
                               .qos = std::max(flags.qos, 1)};
  options.tls_ca_file = flags.tls_ca;
  options.tls_cert_file = flags.tls_cert;
  options.tls_key_file = flags.tls_key;
  if (flags.protect != "none") {
    if (flags.key.empty()) return usage("--protect " + flags.protect + " needs --key FILE");
    auto key = security::LoadPrivateKey(flags.key);
    if (!key.ok()) return usage(std::string(key.status().message()));
    options.key = std::move(*key);
    options.protection = flags.protect == "sign" ? device::AgentOptions::Protection::kSign
                                                 : device::AgentOptions::Protection::kSeal;
  }
  if (!flags.gateway_key.empty()) {
    std::ifstream in(flags.gateway_key);
    std::stringstream pem;
    pem << in.rdbuf();
    auto pub = security::PublicKey::FromPem(pem.str());
    if (!pub.ok()) return usage(StrCat(flags.gateway_key, ": ", pub.status().message()));
    options.gateway_key = std::move(*pub);
  }
  auto add = [&](std::vector<std::unique_ptr<device::Source>> found, const char* what) {
    if (found.empty()) spdlog::warn("no {} sensors under {}", what, flags.sysfs_root);
    for (auto& s : found) options.sources.push_back(std::move(s));
  };
  if (flags.hwmon) add(device::HwmonSources(flags.sysfs_root), "hwmon");
  if (flags.thermal) add(device::ThermalSources(flags.sysfs_root), "thermal");
  if (flags.iio) add(device::IioSources(flags.sysfs_root), "IIO");
  if (!flags.modbus.empty() || !flags.registers.empty()) {
    if (flags.modbus.empty()) return usage("--register needs --modbus tcp://host:port");
    std::vector<device::ModbusRegister> registers;
    for (const std::string& spec : flags.registers) {
      auto r = device::ParseModbusRegister(spec);
      if (!r.ok()) return usage(std::string(r.status().message()));
      registers.push_back(*r);
    }
    auto modbus = device::ModbusSource(flags.modbus, flags.modbus_unit, std::move(registers));
    if (!modbus.ok()) return usage(std::string(modbus.status().message()));
    options.sources.push_back(std::move(*modbus));
  }
  if (flags.simulated) options.sources.push_back(device::SimulatedSource(flags.seed));
  if (options.sources.empty()) {
    return usage(flags.hwmon || flags.thermal || flags.iio
                     ? "none of the requested sensors exist on this machine"
                     : "name the sensors to read: --hwmon, --thermal, --iio, --modbus with "
                       "--register, or --simulated (or --simulate N for a simulated fleet)");
  }
  for (const std::string& spec : flags.leds) {
    std::string name, dir;
    if (!SplitAssignment(spec, &name, &dir))
      return usage(StrCat("--led '", spec, "' is not NAME=DIR"));
    auto led = device::LedActuator(dir);
    if (!led.ok()) return usage(std::string(led.status().message()));
    options.actuators[name] = std::move(*led);
  }
  for (const std::string& spec : flags.gpios) {
    std::string name, where;
    size_t colon;
    unsigned line = 0;
    if (!SplitAssignment(spec, &name, &where) || (colon = where.rfind(':')) == std::string::npos ||
        std::from_chars(where.data() + colon + 1, where.data() + where.size(), line).ec !=
            std::errc()) {
      return usage(StrCat("--gpio '", spec, "' is not NAME=CHIP:LINE"));
    }
    auto gpio = device::GpioActuator(where.substr(0, colon), line);
    if (!gpio.ok()) {
      spdlog::error("{}", gpio.status().message());
      return kExitFailure;
    }
    options.actuators[name] = std::move(*gpio);
  }
  const std::string id = options.device_id;
  auto agent = device::Agent::Start(std::move(options));
  if (!agent.ok()) {
    spdlog::error("{}", agent.status().message());
    return agent.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  spdlog::info("device {} publishing to {} (queue {})", id, flags.broker, flags.queue);
  const int64_t start = MonotonicNs();
  while (Signals::Wait(std::chrono::milliseconds(1000)) == 0) {
    if (flags.duration_s > 0 &&
        static_cast<double>(MonotonicNs() - start) / 1e9 >= flags.duration_s) {
      break;
    }
    device::AgentStats s = (*agent)->stats();
    spdlog::debug("samples {}, sent {}, queued {}, interval {} s", s.samples, s.messages_sent,
                  s.queued, s.interval_s);
  }
  (*agent)->Stop();
  nlohmann::json summary = (*agent)->Summary();
  std::printf("%s\n", summary.dump(2).c_str());
  if (!flags.summary_json.empty() && !WriteSummary(flags.summary_json, summary.dump(2))) {
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

int DeviceCommand(const DeviceFlags& flags) {
  if (absl::Status s = InitLogging(flags.log_level); !s.ok()) {
    std::fprintf(stderr, "edgeway device: --log-level: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }
  if (flags.simulate == 0) return AgentCommand(flags);
  auto fleet = device::Fleet::Start({.broker_url = flags.broker,
                                     .devices = flags.simulate,
                                     .interval_s = flags.interval_s,
                                     .qos = flags.qos,
                                     .seed = flags.seed,
                                     .anomaly_every = flags.anomaly_every,
                                     .stuck_every = flags.stuck_every,
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
  const std::vector<device::InjectedAnomaly> injected = (*fleet)->injected();
  const auto stuck = std::count_if(injected.begin(), injected.end(),
                                   [](const auto& a) { return a.kind == Insight::Kind::kStuck; });
  std::printf(
      "published %llu messages, %llu malformed on purpose, %zu anomalies injected (%td of them "
      "stuck sensors), %llu publish errors\n",
      static_cast<unsigned long long>((*fleet)->messages_published()),
      static_cast<unsigned long long>((*fleet)->bad_published()), injected.size(), stuck,
      static_cast<unsigned long long>((*fleet)->publish_errors()));
  return (*fleet)->publish_errors() == 0 ? kExitOk : kExitFailure;
}

}  // namespace edgeway::app
