// The edgeway binary: parses the command line and hands over to a command. Subcommands that
// are not built in run as separate executables beside this one (`edgeway fl` runs edgeway-fl),
// the way git runs its subcommands, so the gateway never loads what only they need.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "app/commands.h"
#include "app/signals.h"

namespace {

// Runs `edgeway-NAME` from the directory of this executable, if it exists. Returns only on
// failure to run it.
void ExecExternal(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return;
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return;
  std::filesystem::path tool = self.parent_path() / (std::string("edgeway-") + argv[1]);
  if (access(tool.c_str(), X_OK) != 0) return;
  std::vector<char*> args;
  std::string tool_name = tool.string();
  args.push_back(tool_name.data());
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(tool_name.c_str(), args.data());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace edgeway::app;
  CLI::App app{
      "edgeway: an edge-computing runtime for IoT.\n"
      "Ingests device telemetry over MQTT, analyses it per device and sensor in real time "
      "(sliding and event-time windows, anomaly detectors, trends, forecasts), stores readings "
      "and insights in SQLite, forwards them upstream through a persistent outbox, keeps device "
      "twins, and serves a live dashboard, a JSON API and Prometheus metrics.",
      "edgeway"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "edgeway 0.1.0");
  app.footer(
      "Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input.\n"
      "Run 'edgeway COMMAND --help' for the options of a command.");

  RunFlags run_flags;
  AddRunCommand(app, run_flags);
  DeviceFlags device_flags;
  AddDeviceCommand(app, device_flags);
  DemoFlags demo_flags;
  AddDemoCommand(app, demo_flags);
  DetectFlags detect_flags;
  AddDetectCommand(app, detect_flags);
  NabFlags nab_flags;
  AddNabCommand(app, nab_flags);
  TwinFlags twin_flags;
  AddTwinCommand(app, twin_flags);
  KeysFlags keys_flags;
  AddKeysCommand(app, keys_flags);
  CertsFlags certs_flags;
  AddCertsCommand(app, certs_flags);

  if (argc >= 2) {
    std::string first = argv[1];
    bool builtin = first.starts_with("-");
    for (const CLI::App* sub : app.get_subcommands({}))
      builtin = builtin || sub->get_name() == first;
    if (!builtin) {
      ExecExternal(argc, argv);
      std::fprintf(stderr, "edgeway: '%s' is not an edgeway command; see 'edgeway --help'\n",
                   first.c_str());
      return kExitUsage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  // Before any thread exists: SIGINT and SIGTERM become events the commands wait for.
  Signals::Block();
  if (app.got_subcommand("run")) return RunCommand(run_flags);
  if (app.got_subcommand("device")) return DeviceCommand(device_flags);
  if (app.got_subcommand("demo")) return DemoCommand(demo_flags);
  if (app.got_subcommand("detect")) return DetectCommand(detect_flags);
  if (app.got_subcommand("nab")) return NabCommand(nab_flags);
  if (app.got_subcommand("twin")) return TwinCommand(twin_flags);
  if (app.got_subcommand("keys")) return KeysCommand(keys_flags);
  if (app.got_subcommand("certs")) return CertsCommand(certs_flags);
  return kExitUsage;
}
