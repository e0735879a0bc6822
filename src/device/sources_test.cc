#include "edgeway/device/sources.h"

#include <modbus/modbus.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "edgeway/mqtt/broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace edgeway::device {
namespace {

using ::testing::HasSubstr;

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text << "\n";
}

std::map<std::string, Sample> ReadAll(std::vector<std::unique_ptr<Source>>& sources) {
  std::map<std::string, Sample> out;
  for (auto& source : sources) {
    std::vector<Sample> samples;
    EXPECT_TRUE(source->Read(&samples).ok()) << source->Describe();
    for (Sample& s : samples) out[s.sensor] = s;
  }
  return out;
}

// A tree shaped like /sys on a board with a CPU sensor chip, a thermal zone and a BME280.
class FakeSysfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(dir_.File("class/hwmon/hwmon0/name"), "coretemp");
    Write(dir_.File("class/hwmon/hwmon0/temp1_input"), "45000");
    Write(dir_.File("class/hwmon/hwmon0/temp1_label"), "Package id 0");
    Write(dir_.File("class/hwmon/hwmon0/temp2_input"), "43500");
    Write(dir_.File("class/hwmon/hwmon1/name"), "ina219");
    Write(dir_.File("class/hwmon/hwmon1/in1_input"), "5120");
    Write(dir_.File("class/hwmon/hwmon1/power1_input"), "2500000");
    Write(dir_.File("class/thermal/thermal_zone0/type"), "x86_pkg_temp");
    Write(dir_.File("class/thermal/thermal_zone0/temp"), "47000");
    const std::string iio = dir_.File("bus/iio/devices/iio:device0/");
    Write(iio + "name", "bme280");
    Write(iio + "in_temp_input", "21500");  // milli degrees, processed
    Write(iio + "in_humidityrelative_raw", "41000");
    Write(iio + "in_humidityrelative_scale", "1");  // milli percent
    Write(iio + "in_pressure_input", "101.325");    // kPa
    Write(iio + "in_voltage0_raw", "1000");
    Write(iio + "in_voltage_scale", "0.5");  // shared by the type: mV
    Write(iio + "in_voltage0_offset", "24");
  }
  testing::TempDir dir_;
};

TEST_F(FakeSysfsTest, HwmonChannelsInSenmlUnitsNamedByChipAndLabel) {
  auto sources = HwmonSources(dir_.path());
  ASSERT_EQ(sources.size(), 2u);
  auto got = ReadAll(sources);
  EXPECT_DOUBLE_EQ(got["coretemp_package_id_0"].value, 45.0);
  EXPECT_EQ(got["coretemp_package_id_0"].unit, "Cel");
  EXPECT_DOUBLE_EQ(got["coretemp_temp2"].value, 43.5);
  EXPECT_DOUBLE_EQ(got["ina219_in1"].value, 5.12);
  EXPECT_EQ(got["ina219_in1"].unit, "V");
  EXPECT_DOUBLE_EQ(got["ina219_power1"].value, 2.5);
}

TEST_F(FakeSysfsTest, ThermalZonesAndIioWithScaleAndOffset) {
  auto thermal = ThermalSources(dir_.path());
  ASSERT_EQ(thermal.size(), 1u);
  EXPECT_DOUBLE_EQ(ReadAll(thermal)["thermal_x86_pkg_temp"].value, 47.0);
  auto iio = IioSources(dir_.path());
  ASSERT_EQ(iio.size(), 1u);
  auto got = ReadAll(iio);
  EXPECT_DOUBLE_EQ(got["bme280_temp"].value, 21.5);
  EXPECT_EQ(got["bme280_temp"].unit, "Cel");
  EXPECT_DOUBLE_EQ(got["bme280_humidityrelative"].value, 41.0);
  EXPECT_EQ(got["bme280_humidityrelative"].unit, "%RH");
  EXPECT_DOUBLE_EQ(got["bme280_pressure"].value, 101.325);
  EXPECT_DOUBLE_EQ(got["bme280_voltage0"].value, (1000 + 24) * 0.5 / 1000);  // V
}

TEST_F(FakeSysfsTest, AVanishedFileIsAnErrorNamingItAndTheRestIsRead) {
  auto sources = HwmonSources(dir_.path());
  std::filesystem::remove(dir_.File("class/hwmon/hwmon0/temp2_input"));
  std::vector<Sample> samples;
  absl::Status s = sources[0]->Read(&samples);
  EXPECT_THAT(std::string(s.message()), HasSubstr("temp2_input"));
  EXPECT_EQ(samples.size(), 1u);
  EXPECT_TRUE(HwmonSources(dir_.File("nowhere")).empty());
}

TEST(LedTest, DesiredLevelsGoToBrightness) {
  testing::TempDir dir;
  Write(dir.File("leds/status/brightness"), "0");
  Write(dir.File("leds/status/max_brightness"), "255");
  auto led = LedActuator(dir.File("leds/status"));
  ASSERT_TRUE(led.ok()) << led.status();
  ASSERT_TRUE((*led)->Set(1).ok());
  std::ifstream in(dir.File("leds/status/brightness"));
  int level = -1;
  in >> level;
  EXPECT_EQ(level, 1);
  EXPECT_EQ(LedActuator(dir.File("leds/none")).status().code(), absl::StatusCode::kNotFound);
}

TEST(GpioTest, AMissingChipIsAnErrorAtStart) {
  auto gpio = GpioActuator("edgeway-no-such-chip", 3);
  EXPECT_EQ(gpio.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(gpio.status().message()), HasSubstr("edgeway-no-such-chip"));
}

TEST(ModbusRegisterTest, ParsesNameAddressKindScaleAndUnit) {
  auto r = ParseModbusRegister("temperature=100:input*0.1@Cel");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sensor, "temperature");
  EXPECT_EQ(r->address, 100);
  EXPECT_TRUE(r->input);
  EXPECT_DOUBLE_EQ(r->scale, 0.1);
  EXPECT_EQ(r->unit, "Cel");
  auto plain = ParseModbusRegister("flow=7");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->input);
  EXPECT_DOUBLE_EQ(plain->scale, 1);
  EXPECT_THAT(std::string(ParseModbusRegister("flow").status().message()),
              HasSubstr("NAME=ADDRESS"));
  EXPECT_FALSE(ParseModbusRegister("flow=70000").ok());
}

// libmodbus's own TCP server on loopback, serving a register map.
class ModbusServer {
 public:
  ModbusServer() {
    port_ = *mqtt::PickFreePort();
    ctx_ = modbus_new_tcp("127.0.0.1", port_);
    map_ = modbus_mapping_new(0, 0, 200, 200);
    listen_ = modbus_tcp_listen(ctx_, 1);
    thread_ = std::thread([this] {
      int s = listen_;
      while (modbus_tcp_accept(ctx_, &s) >= 0) {
        uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
        int n;
        while ((n = modbus_receive(ctx_, query)) > 0) modbus_reply(ctx_, query, n, map_);
        modbus_close(ctx_);
        s = listen_;
      }
    });
  }
  ~ModbusServer() {
    shutdown(listen_, SHUT_RDWR);
    close(listen_);
    thread_.join();
    modbus_mapping_free(map_);
    modbus_free(ctx_);
  }
  modbus_mapping_t* map() { return map_; }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  int listen_ = -1;
  modbus_t* ctx_ = nullptr;
  modbus_mapping_t* map_ = nullptr;
  std::thread thread_;
};

TEST(ModbusSourceTest, ReadsHoldingAndInputRegistersScaledAndSigned) {
  ModbusServer server;
  server.map()->tab_registers[10] = 215;
  server.map()->tab_input_registers[20] = static_cast<uint16_t>(-40);
  auto source = ModbusSource(
      server.url(), 1,
      {*ParseModbusRegister("temperature=10*0.1@Cel"), *ParseModbusRegister("offset=20:input")});
  ASSERT_TRUE(source.ok()) << source.status();
  std::vector<Sample> samples;
  ASSERT_TRUE((*source)->Read(&samples).ok());
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_DOUBLE_EQ(samples[0].value, 21.5);
  EXPECT_EQ(samples[0].unit, "Cel");
  EXPECT_DOUBLE_EQ(samples[1].value, -40);
  server.map()->tab_registers[10] = 230;
  samples.clear();
  ASSERT_TRUE((*source)->Read(&samples).ok());
  EXPECT_DOUBLE_EQ(samples[0].value, 23.0);
  source->reset();  // disconnect before the server goes
}

TEST(ModbusSourceTest, UnreachableServerIsAnErrorNamingIt) {
  auto port = mqtt::PickFreePort();
  std::string url = "tcp://127.0.0.1:" + std::to_string(*port);
  auto source = ModbusSource(url, 1, {*ParseModbusRegister("t=1")});
  ASSERT_TRUE(source.ok());
  std::vector<Sample> samples;
  absl::Status s = (*source)->Read(&samples);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr(url));
  EXPECT_EQ(ModbusSource("udp://x:1", 1, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgeway::device
