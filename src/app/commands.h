#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "edgeway/device/fleet.h"
#include "edgeway/gateway/config.h"
#include "edgeway/stream/detector.h"

namespace edgeway::app {

// Exit codes of every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime failure
inline constexpr int kExitUsage = 2;    // bad usage or bad input

struct RunFlags {
  std::string config;
  std::string broker;
  std::string upstream;
  std::string store;
  std::string summary_json;
  std::string log_level;
  std::string http;
};
void AddRunCommand(CLI::App& app, RunFlags& flags);
int RunCommand(const RunFlags& flags);

struct DeviceFlags {
  size_t simulate = 0;
  std::string broker;
  double interval_s = 1.0;
  double duration_s = 0;
  uint64_t samples = 0;
  int qos = 1;
  uint64_t anomaly_every = 200;
  uint64_t stuck_every = device::FleetOptions{}.stuck_every;
  uint64_t bad_every = 0;
  uint64_t seed = 1;
  std::string log_level = "info";
  // The agent (without --simulate).
  std::string id;
  std::string queue = "edgeway-device.db";
  bool hwmon = false, thermal = false, iio = false, simulated = false;
  std::string sysfs_root = "/sys";
  std::string modbus;
  int modbus_unit = 1;
  std::vector<std::string> registers;
  double max_interval_s = 60;
  double deadband = 0;
  double heartbeat_s = 300;
  std::vector<std::string> leds;   // NAME=DIR
  std::vector<std::string> gpios;  // NAME=CHIP:LINE
  std::string key;                 // the device's private key (edgeway keys gen)
  std::string protect = "none";    // none, sign or seal
  std::string gateway_key;         // the gateway's public key, to pin in the handshake
  std::string tls_ca, tls_cert, tls_key;
  std::string summary_json;
};
void AddDeviceCommand(CLI::App& app, DeviceFlags& flags);
int DeviceCommand(const DeviceFlags& flags);

struct DemoFlags {
  size_t devices = 50;
  double duration_s = 60;
  double interval_s = 0.1;
  uint64_t anomaly_every = 300;
  std::string detector = "ensemble";
  std::string store = "edgeway-demo.db";
  std::string http = "127.0.0.1:8080";
  std::string summary_json;
  std::string log_level = "error";  // the live view shows rejects and insights already
};
void AddDemoCommand(CLI::App& app, DemoFlags& flags);
int DemoCommand(const DemoFlags& flags);

struct DetectFlags {
  std::string input;
  std::string output;
  size_t window = 50;
  std::string detector = "ensemble";
  double threshold = 0;  // 0: the scores as a threshold sweep needs them
  size_t warmup = stream::DetectorOptions{}.warmup;  // the gateway's
  bool strict = false;                               // a bad row is an error, not left out
  // The plausible range of the values (the gateway's ingest.plausible; no sensors): a value
  // outside is a bad row.
  gateway::GatewayConfig::PlausibleRange plausible;
};
void AddDetectCommand(CLI::App& app, DetectFlags& flags);
int DetectCommand(const DetectFlags& flags);

struct NabFlags {
  std::string data = "../shared/data/nab";
  size_t window = 50;
  std::string detector = "ensemble";
  double threshold = 0;  // 0: the best threshold of each profile
  std::string json;
  size_t resamples = 1000;
};
void AddNabCommand(CLI::App& app, NabFlags& flags);
int NabCommand(const NabFlags& flags);

struct TwinFlags {
  std::string action;
  std::string device;
  std::vector<std::string> fields;
  int64_t version = -1;
  std::string gateway = "http://127.0.0.1:8080";
  std::string token;
};
void AddTwinCommand(CLI::App& app, TwinFlags& flags);
int TwinCommand(const TwinFlags& flags);

struct KeysFlags {
  std::string action;
  std::string device;
  std::string type = "ecdsa-p256";
  std::string key = "device.key";
  bool force = false;
  std::string id;
  std::string pub;
  std::vector<std::string> topics;
  std::string store = "edgeway.db";
  std::string in;
  std::string signature;
};
void AddKeysCommand(CLI::App& app, KeysFlags& flags);
int KeysCommand(const KeysFlags& flags);
// The device id from this machine's hardware ("" when there is none to read).
std::string HardwareDeviceId();

struct CertsFlags {
  std::string out = "pki";
  std::vector<std::string> hosts;
  std::vector<std::string> clients;
  int days = 825;
};
void AddCertsCommand(CLI::App& app, CertsFlags& flags);
int CertsCommand(const CertsFlags& flags);

// Writes `json` to `path` (atomically: a temporary file renamed over it). Logs and returns
// false on failure.
bool WriteSummary(const std::string& path, const std::string& json);

}  // namespace edgeway::app
