#include "edgeway/telemetry/senml.h"

#include <cstdlib>

#include "edgeway/telemetry/decoder.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace edgeway {
namespace {

constexpr int64_t kBase = 1'795'000'000'123'456'789;  // 2026-11-18, with nanoseconds

TEST(SenmlPackWriterTest, PackIsRfc8428WithBaseNameAndRelativeTimes) {
  SenmlPackWriter pack("dev-1");
  pack.AddReading({.device_id = "dev-1",
                   .sensor = "temperature",
                   .ts_ns = kBase,
                   .value = 21.5,
                   .unit = "Cel"});
  pack.AddReading(
      {.device_id = "dev-1", .sensor = "humidity", .ts_ns = kBase + 500'000'000, .value = 40});
  pack.AddString("temperature/anomaly", kBase, "spike");
  EXPECT_EQ(pack.records(), 3u);
  nlohmann::json j = nlohmann::json::parse(pack.Finish());
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j[0]["bn"], "dev-1:");
  EXPECT_NEAR(j[0]["bt"].get<double>(), 1'795'000'000.123456789, 1e-6);
  EXPECT_EQ(j[0]["n"], "temperature");
  EXPECT_EQ(j[0]["u"], "Cel");
  EXPECT_FALSE(j[0].contains("t"));
  EXPECT_DOUBLE_EQ(j[1]["t"].get<double>(), 0.5);
  EXPECT_FALSE(j[1].contains("bn"));
  EXPECT_EQ(j[2]["vs"], "spike");
  EXPECT_EQ(pack.records(), 0u);
}

TEST(SenmlPackWriterTest, EdgewayDecodesItsOwnPacks) {
  SenmlPackWriter pack("plant-7");
  std::vector<Reading> sent;
  for (int i = 0; i < 5; ++i) {
    sent.push_back({.device_id = "plant-7",
                    .sensor = i % 2 ? "pressure" : "temperature",
                    .ts_ns = kBase + i * 250'000'000LL,
                    .value = 20.0 + i,
                    .unit = i % 2 ? "Pa" : "Cel"});
    pack.AddReading(sent.back());
  }
  Decoder decoder;
  std::vector<Reading> got;
  DecodeResult result = decoder.Decode("edgeway/plant-7/senml", pack.Finish(), kBase, &got);
  ASSERT_TRUE(result.ok) << result.detail;
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(got[i].device_id, "plant-7");
    EXPECT_EQ(got[i].sensor, sent[i].sensor);
    EXPECT_EQ(got[i].unit, sent[i].unit);
    EXPECT_DOUBLE_EQ(got[i].value, sent[i].value);
    EXPECT_LE(std::llabs(got[i].ts_ns - sent[i].ts_ns), 1000) << i;  // a microsecond
  }
}

}  // namespace
}  // namespace edgeway
