#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgeway::device {

// One value read from a sensor.
struct Sample {
  std::string sensor;  // a valid edgeway sensor name
  double value = 0;
  std::string unit;  // SenML unit (Cel, V, %RH, ...), may be empty
};

// Something the device agent reads sensors from.
class Source {
 public:
  virtual ~Source() = default;
  // What it is, for logs ("hwmon coretemp", "modbus tcp://10.0.0.5:502 unit 1").
  virtual std::string Describe() const = 0;
  // Appends the current values. An error is logged by the agent and the source tried again at
  // the next sample; the other sources are read regardless.
  virtual absl::Status Read(std::vector<Sample>* out) = 0;
};

// Linux sensors under `sysfs_root` (normally "/sys"; a directory tree of the same shape in tests):
//  - hwmon: class/hwmon/hwmon*/{temp,in,fan,power,humidity}N_input with N_label and `name`,
//    in SenML units (Cel, V, 1/min, W, %RH);
//  - thermal zones: class/thermal/thermal_zone*/temp with `type`, in Cel;
//  - IIO: bus/iio/devices/iio:device*/in_*_raw with the channel's (or its type's) _scale and
//    _offset, or in_*_input, per the kernel's IIO ABI units (temperature in Cel, voltage in V,
//    relative humidity in %RH, pressure in kPa, the rest as the kernel gives them).
// Each returns an empty list when the kernel has none of them.
std::vector<std::unique_ptr<Source>> HwmonSources(const std::string& sysfs_root);
std::vector<std::unique_ptr<Source>> ThermalSources(const std::string& sysfs_root);
std::vector<std::unique_ptr<Source>> IioSources(const std::string& sysfs_root);

// A register of a Modbus TCP server: NAME=ADDRESS[:holding|input][*SCALE][@UNIT], e.g.
// "temperature=100:input*0.1@Cel". The value is the 16-bit register, signed, times the scale.
struct ModbusRegister {
  std::string sensor;
  int address = 0;
  bool input = false;  // input register (function 4) rather than holding register (function 3)
  double scale = 1;
  std::string unit;
};
absl::StatusOr<ModbusRegister> ParseModbusRegister(std::string_view spec);

// Reads registers from a Modbus TCP server (libmodbus), reconnecting as needed.
// `url` is tcp://host:port.
absl::StatusOr<std::unique_ptr<Source>> ModbusSource(const std::string& url, int unit_id,
                                                     std::vector<ModbusRegister> registers);

// Simulated sensors for boards without any: temperature and humidity as slow random walks.
std::unique_ptr<Source> SimulatedSource(uint64_t seed);

// Something the agent drives from the twin's desired state.
class Actuator {
 public:
  virtual ~Actuator() = default;
  virtual std::string Describe() const = 0;
  // Sets the output: 0 off, anything else on (a LED's brightness where it has levels).
  virtual absl::Status Set(int64_t value) = 0;
};

// A Linux LED: writes brightness to `led_dir`/brightness (e.g. /sys/class/leds/led0).
absl::StatusOr<std::unique_ptr<Actuator>> LedActuator(const std::string& led_dir);
// A GPIO output line through libgpiod: `chip` as gpiod_chip_open_lookup takes it ("gpiochip0",
// "0", a label or a path), `line` its offset. The line is requested at start, so a wrong chip
// or a busy line is an error there, not later.
absl::StatusOr<std::unique_ptr<Actuator>> GpioActuator(const std::string& chip, unsigned line);

}  // namespace edgeway::device
