// edgeway twin: read and change device twins through a running gateway's HTTP API.
#include <cstdio>

#include "app/commands.h"
#include "edgeway/core/strings.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace edgeway::app {
namespace {

using nlohmann::json;

// "interval_s=5" -> {"interval_s": 5}; values are JSON when they parse (numbers, true, null,
// objects), text otherwise; "a.b=1" sets a nested field.
bool ParseAssignment(const std::string& text, json* patch, std::string* error) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    *error = StrCat("'", text, "' is not key=value");
    return false;
  }
  json value = json::parse(text.substr(eq + 1), nullptr, false);
  if (value.is_discarded()) value = text.substr(eq + 1);
  json* at = patch;
  std::string_view key(text.data(), eq);
  size_t dot;
  while ((dot = key.find('.')) != std::string_view::npos) {
    json& next = (*at)[std::string(key.substr(0, dot))];
    if (!next.is_object()) next = json::object();
    at = &next;
    key.remove_prefix(dot + 1);
  }
  (*at)[std::string(key)] = std::move(value);
  return true;
}

}  // namespace

void AddTwinCommand(CLI::App& app, TwinFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "twin",
      "Show or change device twins (reported, desired, delta, version) through a running "
      "gateway's HTTP API. `edgeway twin get DEVICE`; `edgeway twin set DEVICE interval_s=5 "
      "led=true [--version N]` merges into desired (null deletes a field) and the gateway sends "
      "the delta to the device on devices/{id}/twin/delta; `edgeway twin list`.");
  cmd->add_option("action", flags.action, "get, set or list")
      ->required()
      ->check(CLI::IsMember({"get", "set", "list"}));
  cmd->add_option("device", flags.device, "device id (get, set)");
  cmd->add_option("fields", flags.fields, "key=value pairs for set (a.b=1 for nested fields)");
  cmd->add_option("--version", flags.version,
                  "set: the twin version this change is based on; refused (exit 1) if the twin "
                  "moved on since");
  cmd->add_option("--gateway", flags.gateway, "the gateway's HTTP address")->capture_default_str();
  cmd->add_option("--token", flags.token, "bearer token, when the gateway requires one");
}

int TwinCommand(const TwinFlags& flags) {
  if (flags.action != "list" && flags.device.empty()) {
    std::fprintf(stderr, "edgeway twin %s: name a device\n", flags.action.c_str());
    return kExitUsage;
  }
  json patch = json::object();
  if (flags.action == "set") {
    if (flags.fields.empty()) {
      std::fprintf(stderr, "edgeway twin set: give at least one key=value\n");
      return kExitUsage;
    }
    for (const std::string& field : flags.fields) {
      std::string error;
      if (!ParseAssignment(field, &patch, &error)) {
        std::fprintf(stderr, "edgeway twin set: %s\n", error.c_str());
        return kExitUsage;
      }
    }
  } else if (!flags.fields.empty()) {
    std::fprintf(stderr, "edgeway twin %s: unexpected '%s'\n", flags.action.c_str(),
                 flags.fields.front().c_str());
    return kExitUsage;
  }
  httplib::Client client(flags.gateway);
  client.set_connection_timeout(std::chrono::seconds(5));
  if (!flags.token.empty()) client.set_bearer_token_auth(flags.token);
  const std::string path =
      flags.action == "list" ? "/api/v1/twins" : StrCat("/api/v1/twins/", flags.device);
  json request = {{"desired", patch}};
  if (flags.version >= 0) request["version"] = flags.version;
  httplib::Result res = flags.action == "set"
                            ? client.Patch(path, request.dump(), "application/json")
                            : client.Get(path);
  if (!res) {
    std::fprintf(stderr,
                 "edgeway twin: cannot reach the gateway at %s (%s); is `edgeway run` "
                 "running with its HTTP API on?\n",
                 flags.gateway.c_str(), httplib::to_string(res.error()).c_str());
    return kExitFailure;
  }
  json body = json::parse(res->body, nullptr, false);
  if (res->status != 200) {
    std::fprintf(stderr, "edgeway twin %s: %s (HTTP %d)\n", flags.action.c_str(),
                 body.is_object() && body.contains("error")
                     ? body["error"].get<std::string>().c_str()
                     : res->body.c_str(),
                 res->status);
    return res->status == 400 ? kExitUsage : kExitFailure;
  }
  std::printf("%s\n", body.dump(2).c_str());
  return kExitOk;
}

}  // namespace edgeway::app
