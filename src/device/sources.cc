#include "edgeway/device/sources.h"

#include <gpiod.h>
#include <modbus/modbus.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "edgeway/core/strings.h"
#include "edgeway/mqtt/client.h"

namespace edgeway::device {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ReadLine(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return line;
}

std::optional<double> ReadNumber(const fs::path& path) {
  std::optional<std::string> text = ReadLine(path);
  if (!text) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Lower-case letters, digits and '_' only: a valid sensor name from a kernel label.
std::string SensorName(std::string_view text) {
  std::string out;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) {
      out.push_back(static_cast<char>(std::tolower(c)));
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.substr(0, 64);
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The leading lower-case letters of `s`.
std::string_view LeadingLetters(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && s[n] >= 'a' && s[n] <= 'z') ++n;
  return s.substr(0, n);
}

std::vector<fs::path> Entries(const fs::path& dir, std::string_view prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(prefix)) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// One file per channel, each read as a number times a scale.
struct Channel {
  fs::path path;
  std::string sensor;
  double scale = 1;
  double offset = 0;  // added to the raw value before scaling (IIO)
  std::string unit;
};

class FileSource final : public Source {
 public:
  FileSource(std::string description, std::vector<Channel> channels)
      : description_(std::move(description)), channels_(std::move(channels)) {}
  std::string Describe() const override { return description_; }
  absl::Status Read(std::vector<Sample>* out) override {
    std::string failed;
    for (const Channel& c : channels_) {
      std::optional<double> raw = ReadNumber(c.path);
      if (!raw) {
        failed = c.path.string();
        continue;
      }
      out->push_back({c.sensor, (*raw + c.offset) * c.scale, c.unit});
    }
    if (!failed.empty()) return absl::UnavailableError(StrCat(failed, ": cannot read a number"));
    return absl::OkStatus();
  }

 private:
  std::string description_;
  std::vector<Channel> channels_;
};

// hwmon attributes: prefix, scale to the SenML unit, unit.
struct HwmonKind {
  const char* prefix;
  double scale;
  const char* unit;
};
constexpr HwmonKind kHwmonKinds[] = {{"temp", 1e-3, "Cel"},
                                     {"in", 1e-3, "V"},
                                     {"fan", 1, "1/min"},
                                     {"power", 1e-6, "W"},
                                     {"humidity", 1e-3, "%RH"}};

// IIO channel types: scale after the kernel's own to reach the SenML unit.
struct IioKind {
  const char* type;
  double scale;
  const char* unit;
};
constexpr IioKind kIioKinds[] = {
    {"temp", 1e-3, "Cel"},  {"voltage", 1e-3, "V"},   {"humidityrelative", 1e-3, "%RH"},
    {"pressure", 1, "kPa"}, {"illuminance", 1, "lx"}, {"accel", 1, "m/s2"}};

}  // namespace

std::vector<std::unique_ptr<Source>> HwmonSources(const std::string& sysfs_root) {
  std::vector<std::unique_ptr<Source>> out;
  for (const fs::path& dir : Entries(fs::path(sysfs_root) / "class/hwmon", "hwmon")) {
    std::string chip = SensorName(ReadLine(dir / "name").value_or(dir.filename().string()));
    std::vector<Channel> channels;
    for (const fs::path& file : Entries(dir, "")) {
      // {kind}{N}_input, e.g. temp1_input
      std::string name = file.filename().string();
      if (!std::string_view(name).ends_with("_input")) continue;
      const std::string channel = name.substr(0, name.size() - 6);
      const std::string_view prefix = LeadingLetters(channel);
      if (!AllDigits(std::string_view(channel).substr(prefix.size()))) continue;
      for (const HwmonKind& kind : kHwmonKinds) {
        if (prefix != kind.prefix) continue;
        std::optional<std::string> label = ReadLine(dir / (channel + "_label"));
        channels.push_back({file, SensorName(StrCat(chip, "_", label ? *label : channel)),
                            kind.scale, 0, kind.unit});
      }
    }
    if (!channels.empty()) {
      out.push_back(std::make_unique<FileSource>(StrCat("hwmon ", chip, " (", dir.string(), ")"),
                                                 std::move(channels)));
    }
  }
  return out;
}

std::vector<std::unique_ptr<Source>> ThermalSources(const std::string& sysfs_root) {
  std::vector<Channel> channels;
  for (const fs::path& dir : Entries(fs::path(sysfs_root) / "class/thermal", "thermal_zone")) {
    if (!fs::exists(dir / "temp")) continue;
    std::string type = ReadLine(dir / "type").value_or(dir.filename().string());
    channels.push_back({dir / "temp", SensorName(StrCat("thermal_", type)), 1e-3, 0, "Cel"});
  }
  std::vector<std::unique_ptr<Source>> out;
  if (!channels.empty()) {
    out.push_back(std::make_unique<FileSource>("thermal zones", std::move(channels)));
  }
  return out;
}

std::vector<std::unique_ptr<Source>> IioSources(const std::string& sysfs_root) {
  std::vector<std::unique_ptr<Source>> out;
  for (const fs::path& dir : Entries(fs::path(sysfs_root) / "bus/iio/devices", "iio:device")) {
    std::string device = SensorName(ReadLine(dir / "name").value_or(dir.filename().string()));
    std::vector<Channel> channels;
    for (const fs::path& file : Entries(dir, "in_")) {
      // in_{channel}_raw or in_{channel}_input; the channel starts with its type: in_temp_raw,
      // in_voltage0_raw, in_accel_x_raw.
      const std::string name = file.filename().string();
      const bool raw = std::string_view(name).ends_with("_raw");
      if (!raw && !std::string_view(name).ends_with("_input")) continue;
      const std::string channel = name.substr(3, name.size() - 3 - (raw ? 4 : 6));
      const std::string type(LeadingLetters(channel));
      if (type.empty()) continue;
      Channel c{file, SensorName(StrCat(device, "_", channel)), 1, 0, ""};
      if (raw) {
        // The channel's own scale and offset, or those shared by its type.
        for (const std::string& base : {StrCat("in_", channel), StrCat("in_", type)}) {
          if (auto s = ReadNumber(dir / (base + "_scale")); s && c.scale == 1) c.scale = *s;
          if (auto o = ReadNumber(dir / (base + "_offset")); o && c.offset == 0) c.offset = *o;
        }
      }
      for (const IioKind& kind : kIioKinds) {
        if (type == kind.type) {
          c.scale *= kind.scale;
          c.unit = kind.unit;
        }
      }
      channels.push_back(std::move(c));
    }
    if (!channels.empty()) {
      out.push_back(std::make_unique<FileSource>(StrCat("iio ", device, " (", dir.string(), ")"),
                                                 std::move(channels)));
    }
  }
  return out;
}

absl::StatusOr<ModbusRegister> ParseModbusRegister(std::string_view spec) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("modbus register '", spec, "' is not ",
                                             "NAME=ADDRESS[:holding|input][*SCALE][@UNIT]", why));
  };
  ModbusRegister r;
  std::string_view rest = spec;
  size_t eq = rest.find('=');
  if (eq == std::string_view::npos || eq == 0) return bad("");
  r.sensor = std::string(rest.substr(0, eq));
  if (!std::all_of(r.sensor.begin(), r.sensor.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      })) {
    return bad(": the name takes letters, digits and '_'");
  }
  rest.remove_prefix(eq + 1);
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    r.unit = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (r.unit.empty()) return bad(": empty unit");
  }
  if (size_t star = rest.find('*'); star != std::string_view::npos) {
    std::string scale(rest.substr(star + 1));
    char* end = nullptr;
    r.scale = std::strtod(scale.c_str(), &end);
    if (scale.empty() || end != scale.c_str() + scale.size() || !std::isfinite(r.scale)) {
      return bad(": bad scale");
    }
    rest = rest.substr(0, star);
  }
  if (size_t colon = rest.find(':'); colon != std::string_view::npos) {
    std::string_view kind = rest.substr(colon + 1);
    if (kind != "holding" && kind != "input") return bad(": the kind is holding or input");
    r.input = kind == "input";
    rest = rest.substr(0, colon);
  }
  if (!AllDigits(rest) || rest.size() > 5) return bad(": bad address");
  r.address = std::stoi(std::string(rest));
  if (r.address > 65535) {
    return absl::InvalidArgumentError(StrCat("modbus register '", spec, "': address > 65535"));
  }
  return r;
}

namespace {

class Modbus final : public Source {
 public:
  Modbus(std::string url, std::string host, int port, int unit, std::vector<ModbusRegister> regs)
      : url_(std::move(url)),
        host_(std::move(host)),
        port_(port),
        unit_(unit),
        registers_(std::move(regs)) {}
  ~Modbus() override { Close(); }
  std::string Describe() const override { return StrCat("modbus ", url_, " unit ", unit_); }

  absl::Status Read(std::vector<Sample>* out) override {
    if (ctx_ == nullptr) {
      ctx_ = modbus_new_tcp(host_.c_str(), port_);
      if (ctx_ == nullptr) return absl::ResourceExhaustedError("modbus_new_tcp failed");
      modbus_set_slave(ctx_, unit_);
      modbus_set_response_timeout(ctx_, 1, 0);
      if (modbus_connect(ctx_) != 0) {
        std::string error = modbus_strerror(errno);
        Close();
        return absl::UnavailableError(StrCat(Describe(), ": connect: ", error));
      }
    }
    for (const ModbusRegister& r : registers_) {
      uint16_t value = 0;
      int n = r.input ? modbus_read_input_registers(ctx_, r.address, 1, &value)
                      : modbus_read_registers(ctx_, r.address, 1, &value);
      if (n != 1) {
        std::string error = modbus_strerror(errno);
        Close();  // reconnect next time
        return absl::UnavailableError(
            StrCat(Describe(), ": register ", r.address, " (", r.sensor, "): ", error));
      }
      out->push_back({r.sensor, static_cast<int16_t>(value) * r.scale, r.unit});
    }
    return absl::OkStatus();
  }

 private:
  void Close() {
    if (ctx_ == nullptr) return;
    modbus_close(ctx_);
    modbus_free(ctx_);
    ctx_ = nullptr;
  }
  std::string url_, host_;
  int port_, unit_;
  std::vector<ModbusRegister> registers_;
  modbus_t* ctx_ = nullptr;
};

class Simulated final : public Source {
 public:
  explicit Simulated(uint64_t seed) : rng_(seed) {}
  std::string Describe() const override { return "simulated temperature and humidity"; }
  absl::Status Read(std::vector<Sample>* out) override {
    std::normal_distribution<double> step(0, 0.05);
    temperature_ = std::clamp(temperature_ + step(rng_), 15.0, 35.0);
    humidity_ = std::clamp(humidity_ + 4 * step(rng_), 20.0, 80.0);
    out->push_back({"temperature", temperature_, "Cel"});
    out->push_back({"humidity", humidity_, "%RH"});
    return absl::OkStatus();
  }

 private:
  std::mt19937_64 rng_;
  double temperature_ = 22.0, humidity_ = 45.0;
};

class Led final : public Actuator {
 public:
  explicit Led(fs::path dir, int64_t max) : dir_(std::move(dir)), max_(max) {}
  std::string Describe() const override { return StrCat("LED ", dir_.string()); }
  absl::Status Set(int64_t value) override {
    std::ofstream out(dir_ / "brightness");
    out << (value == 0 ? 0 : std::clamp<int64_t>(value, 1, max_)) << "\n";
    out.close();
    if (!out) return absl::UnavailableError(StrCat(dir_.string(), "/brightness: cannot write"));
    return absl::OkStatus();
  }

 private:
  fs::path dir_;
  int64_t max_;
};

class Gpio final : public Actuator {
 public:
  Gpio(gpiod_chip* chip, gpiod_line* line, std::string name)
      : chip_(chip), line_(line), name_(std::move(name)) {}
  ~Gpio() override {
    gpiod_line_release(line_);
    gpiod_chip_close(chip_);
  }
  std::string Describe() const override { return name_; }
  absl::Status Set(int64_t value) override {
    if (gpiod_line_set_value(line_, value != 0 ? 1 : 0) != 0) {
      return absl::UnavailableError(StrCat(name_, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

 private:
  gpiod_chip* chip_;
  gpiod_line* line_;
  std::string name_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Source>> ModbusSource(const std::string& url, int unit_id,
                                                     std::vector<ModbusRegister> registers) {
  auto address = mqtt::ParseBrokerUrl(url);
  if (!address.ok() || address->tls || !url.starts_with("tcp://")) {
    return absl::InvalidArgumentError(StrCat("modbus server '", url, "' must be tcp://host:port"));
  }
  if (registers.empty()) {
    return absl::InvalidArgumentError(
        StrCat("modbus server ", url, ": name at least one register"));
  }
  return std::make_unique<Modbus>(url, address->host, address->port, unit_id, std::move(registers));
}

std::unique_ptr<Source> SimulatedSource(uint64_t seed) { return std::make_unique<Simulated>(seed); }

absl::StatusOr<std::unique_ptr<Actuator>> LedActuator(const std::string& led_dir) {
  fs::path dir(led_dir);
  if (!fs::exists(dir / "brightness")) {
    return absl::NotFoundError(StrCat(led_dir,
                                      ": no brightness file (not a LED under "
                                      "/sys/class/leds?)"));
  }
  std::optional<double> max = ReadNumber(dir / "max_brightness");
  return std::make_unique<Led>(dir, max ? static_cast<int64_t>(*max) : 1);
}

absl::StatusOr<std::unique_ptr<Actuator>> GpioActuator(const std::string& chip_name,
                                                       unsigned line_offset) {
  gpiod_chip* chip = gpiod_chip_open_lookup(chip_name.c_str());
  if (chip == nullptr) {
    return absl::NotFoundError(
        StrCat("GPIO chip '", chip_name, "': ", std::strerror(errno), " (see gpiodetect)"));
  }
  gpiod_line* line = gpiod_chip_get_line(chip, line_offset);
  if (line == nullptr || gpiod_line_request_output(line, "edgeway", 0) != 0) {
    std::string error = std::strerror(errno);
    gpiod_chip_close(chip);
    return absl::UnavailableError(StrCat("GPIO ", chip_name, " line ", line_offset, ": ", error));
  }
  return std::make_unique<Gpio>(chip, line, StrCat("GPIO ", chip_name, " line ", line_offset));
}

}  // namespace edgeway::device
