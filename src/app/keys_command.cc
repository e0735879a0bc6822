// edgeway keys: device identity (key pairs, device ids) and the gateway's device registry.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/commands.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/strings.h"
#include "edgeway/security/crypto.h"
#include "edgeway/store/store.h"
#include "edgeway/telemetry/decoder.h"

namespace edgeway::app {
namespace {

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

// A stable id from the hardware: systemd's machine id, else the DMI product UUID, else the first
// MAC address; hashed (as systemd advises for machine-id) so the raw value does not leak.
std::string HardwareDeviceId() {
  std::string source = FirstLine("/etc/machine-id");
  if (source.empty()) source = FirstLine("/sys/class/dmi/id/product_uuid");
  if (source.empty()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net", ec)) {
      std::string mac = FirstLine(entry.path().string() + "/address");
      if (!mac.empty() && mac != "00:00:00:00:00:00") {
        source = mac;
        break;
      }
    }
  }
  if (source.empty()) return "";
  return "dev-" + security::Hex(security::Sha256("edgeway device id|" + source)).substr(0, 16);
}

void AddKeysCommand(CLI::App& app, KeysFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "keys",
      "Device identity and the gateway's device registry. On a device: `edgeway keys gen` makes "
      "a key pair (ECDSA P-256, or --type ed25519) in PEM files (the private one mode 0600); "
      "`edgeway keys show` prints the device id (from /etc/machine-id, the DMI UUID or a MAC "
      "address, unless --id) and the public key. At the gateway: `edgeway keys provision "
      "DEVICE --pub FILE [--topic FILTER]...`, `edgeway keys revoke DEVICE`, `edgeway keys "
      "list`, in the gateway's store (a running gateway picks changes up within 2 s). `edgeway "
      "keys sign --key K --in FILE` prints a base64 signature; `edgeway keys verify --pub P --in "
      "FILE --signature S` exits 0 when it verifies, 1 when not (interoperable with the seed's "
      "Python IoTSecurityManager).");
  cmd->add_option("action", flags.action, "gen, show, provision, revoke or list")
      ->required()
      ->check(CLI::IsMember({"gen", "show", "provision", "revoke", "list", "sign", "verify"}));
  cmd->add_option("device", flags.device, "device id (provision, revoke)");
  cmd->add_option("--type", flags.type, "gen: ecdsa-p256 (as the seed) or ed25519")
      ->capture_default_str()
      ->check(CLI::IsMember({"ecdsa-p256", "ed25519"}));
  cmd->add_option("--key", flags.key, "gen, show: the private key file")->capture_default_str();
  cmd->add_flag("--force", flags.force, "gen: replace an existing key");
  cmd->add_option("--id", flags.id, "show: the device id to print instead of the hardware's");
  cmd->add_option("--pub", flags.pub, "provision: the device's public key (PEM)");
  cmd->add_option("--topic", flags.topics,
                  "provision: MQTT topic filter the device may publish on (repeatable; default "
                  "devices/DEVICE/#)");
  cmd->add_option("--store", flags.store, "provision, revoke, list: the gateway's store")
      ->capture_default_str();
  cmd->add_option("--in", flags.in, "sign, verify: the file whose bytes are signed");
  cmd->add_option("--signature", flags.signature,
                  "verify: the base64 signature (DER ECDSA or Ed25519, as the seed's sign_data "
                  "prints it)");
}

int KeysCommand(const KeysFlags& flags) {
  auto fail = [](int code, const auto& message) {
    const std::string text(message);
    std::fprintf(stderr, "edgeway keys: %s\n", text.c_str());
    return code;
  };
  if (flags.action == "gen") {
    auto key = security::PrivateKey::Generate(
        flags.type == "ed25519" ? security::KeyType::kEd25519 : security::KeyType::kEcdsaP256);
    if (!key.ok()) return fail(kExitFailure, key.status().message());
    if (absl::Status s = security::SavePrivateKey(*key, flags.key, flags.force); !s.ok()) {
      return fail(s.code() == absl::StatusCode::kAlreadyExists ? kExitUsage : kExitFailure,
                  s.message());
    }
    const std::string pub_path = flags.key + ".pub";
    std::ofstream(pub_path) << key->Public().ToPem();
    std::printf("wrote %s (mode 0600) and %s (%s)\n", flags.key.c_str(), pub_path.c_str(),
                security::KeyTypeName(key->type()));
    return kExitOk;
  }
  if (flags.action == "sign" || flags.action == "verify") {
    std::ifstream in(flags.in, std::ios::binary);
    if (flags.in.empty() || !in)
      return fail(kExitUsage, StrCat("--in '", flags.in, "': cannot open"));
    std::stringstream data;
    data << in.rdbuf();
    if (flags.action == "sign") {
      auto key = security::LoadPrivateKey(flags.key);
      if (!key.ok()) return fail(kExitUsage, key.status().message());
      auto sig = key->Sign(data.str());
      if (!sig.ok()) return fail(kExitFailure, sig.status().message());
      std::printf("%s\n", security::Base64(*sig).c_str());
      return kExitOk;
    }
    std::ifstream pub_in(flags.pub);
    if (flags.pub.empty() || !pub_in) return fail(kExitUsage, "verify needs --pub FILE");
    std::stringstream pem;
    pem << pub_in.rdbuf();
    auto pub = security::PublicKey::FromPem(pem.str());
    if (!pub.ok()) return fail(kExitUsage, StrCat(flags.pub, ": ", pub.status().message()));
    std::optional<std::string> sig = security::Unbase64(flags.signature);
    if (!sig) return fail(kExitUsage, "--signature is not base64");
    if (!pub->Verify(data.str(), *sig)) return fail(kExitFailure, "signature does not verify");
    std::printf("signature verifies (%s)\n", security::KeyTypeName(pub->type()));
    return kExitOk;
  }
  if (flags.action == "show") {
    auto key = security::LoadPrivateKey(flags.key);
    if (!key.ok()) return fail(kExitUsage, key.status().message());
    std::string id = flags.id.empty() ? HardwareDeviceId() : flags.id;
    security::PublicKey pub = key->Public();
    std::printf("device id: %s\nkey type: %s\nfingerprint: %s\n%s", id.c_str(),
                security::KeyTypeName(pub.type()), pub.Fingerprint().c_str(), pub.ToPem().c_str());
    return kExitOk;
  }
  auto store = store::Store::Open({.path = flags.store});
  if (!store.ok()) return fail(kExitFailure, store.status().message());
  if (flags.action == "list") {
    auto devices = (*store)->RegisteredDevices();
    if (!devices.ok()) return fail(kExitFailure, devices.status().message());
    std::printf("%-24s %-10s %-8s %-14s %s\n", "device", "key", "status", "sequence", "topics");
    for (const store::RegisteredDevice& d : *devices) {
      std::string topics;
      for (const std::string& t : d.topics) topics += (topics.empty() ? "" : ",") + t;
      std::printf("%-24s %-10s %-8s %-14llu %s\n", d.device_id.c_str(), d.key_type.c_str(),
                  d.revoked ? "revoked" : "active", static_cast<unsigned long long>(d.high_seq),
                  topics.empty() ? "(any)" : topics.c_str());
    }
    return kExitOk;
  }
  if (flags.device.empty() || !IsValidDeviceId(flags.device)) {
    return fail(kExitUsage, StrCat("name a valid device id to ", flags.action));
  }
  if (flags.action == "revoke") {
    if (absl::Status s = (*store)->SetRevoked(flags.device, true); !s.ok()) {
      return fail(s.code() == absl::StatusCode::kNotFound ? kExitUsage : kExitFailure, s.message());
    }
    std::printf("revoked %s\n", flags.device.c_str());
    return kExitOk;
  }
  // provision
  if (flags.pub.empty()) return fail(kExitUsage, "provision needs --pub FILE");
  std::ifstream in(flags.pub);
  if (!in) return fail(kExitUsage, StrCat(flags.pub, ": cannot open"));
  std::stringstream pem;
  pem << in.rdbuf();
  auto pub = security::PublicKey::FromPem(pem.str());
  if (!pub.ok()) return fail(kExitUsage, StrCat(flags.pub, ": ", pub.status().message()));
  store::RegisteredDevice d{
      .device_id = flags.device,
      .key_type = security::KeyTypeName(pub->type()),
      .public_key = pub->ToPem(),
      .topics = flags.topics.empty() ? std::vector<std::string>{"devices/" + flags.device + "/#"}
                                     : flags.topics,
      .created_ns = Clock::Real()->NowNs()};
  if (absl::Status s = (*store)->ProvisionDevice(d); !s.ok())
    return fail(kExitFailure, s.message());
  std::printf("provisioned %s (%s, fingerprint %s)\n", flags.device.c_str(), d.key_type.c_str(),
              pub->Fingerprint().substr(0, 16).c_str());
  return kExitOk;
}

}  // namespace edgeway::app
