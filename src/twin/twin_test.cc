#include "edgeway/twin/twin.h"

#include "edgeway/store/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace edgeway::twin {
namespace {

using ::testing::HasSubstr;
using Section = TwinDocument::Section;

constexpr int64_t kNow = 1'795'000'000LL * 1'000'000'000;

TEST(TwinDocumentTest, PatchesMergeAndNullDeletesAsAwsShadows) {
  TwinDocument doc;
  ASSERT_TRUE(doc.Update(Section::kDesired, json::parse(R"({"interval_s": 5, "led": {"on": true,
      "color": "red"}})"),
                         std::nullopt, kNow, {})
                  .ok());
  EXPECT_EQ(doc.version(), 1);
  ASSERT_TRUE(doc.Update(Section::kDesired,
                         json::parse(R"({"led": {"color": null}, "deadband": 0.5})"), 1, kNow + 1,
                         {})
                  .ok());
  EXPECT_EQ(doc.desired(),
            json::parse(R"({"interval_s": 5, "led": {"on": true}, "deadband": 0.5})"));
  EXPECT_EQ(doc.version(), 2);
  // The same values again change nothing, and do not count as a version.
  ASSERT_TRUE(
      doc.Update(Section::kDesired, json::parse(R"({"interval_s": 5})"), std::nullopt, kNow + 2, {})
          .ok());
  EXPECT_EQ(doc.version(), 2);
  // Reported updates do not move the version (it versions what is desired).
  ASSERT_TRUE(doc.Update(Section::kReported,
                         json::parse(R"({"interval_s": 5, "led": {"on": false}})"), std::nullopt,
                         kNow + 3, {})
                  .ok());
  EXPECT_EQ(doc.version(), 2);
  EXPECT_EQ(doc.Delta(), json::parse(R"({"led": {"on": true}, "deadband": 0.5})"));

  json j = doc.ToJson();
  EXPECT_EQ(j["state"]["delta"], doc.Delta());
  EXPECT_NEAR(j["metadata"]["desired"]["deadband"].get<double>(), 1'795'000'000, 1e-6);
  EXPECT_TRUE(j["metadata"]["desired"].contains("led.on"));
  EXPECT_FALSE(j["metadata"]["desired"].contains("led.color"));
  auto back = TwinDocument::FromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ToJson()["state"], j["state"]);
  EXPECT_EQ(back->version(), 2);
  EXPECT_EQ(back->ToJson()["metadata"]["desired"].size(), j["metadata"]["desired"].size());

  // A stored time past what int64 nanoseconds hold (a damaged store) is dropped, not cast.
  j["metadata"]["desired"]["deadband"] = 1e300;
  auto damaged = TwinDocument::FromJson(j);
  ASSERT_TRUE(damaged.ok());
  EXPECT_FALSE(damaged->ToJson()["metadata"]["desired"].contains("deadband"));
  EXPECT_TRUE(damaged->ToJson()["metadata"]["desired"].contains("led.on"));
}

TEST(TwinDocumentTest, StaleVersionIsAConflictAndChangesNothing) {
  TwinDocument doc;
  ASSERT_TRUE(doc.Update(Section::kDesired, {{"a", 1}}, 0, kNow, {}).ok());
  absl::Status s = doc.Update(Section::kDesired, {{"a", 2}}, 0, kNow, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("at version 1, the update names 0"));
  EXPECT_EQ(doc.desired()["a"], 1);
}

TEST(TwinDocumentTest, SizeAndDepthLimits) {
  TwinDocument doc;
  TwinLimits limits{.max_bytes = 64, .max_depth = 2};
  EXPECT_EQ(
      doc.Update(Section::kDesired, {{"s", std::string(100, 'x')}}, std::nullopt, kNow, limits)
          .code(),
      absl::StatusCode::kInvalidArgument);
  absl::Status deep = doc.Update(Section::kDesired, json::parse(R"({"a": {"b": {"c": 1}}})"),
                                 std::nullopt, kNow, limits);
  EXPECT_THAT(std::string(deep.message()), HasSubstr("nested 3 deep; the limit is 2"));
  EXPECT_EQ(doc.Update(Section::kDesired, json::array({1}), std::nullopt, kNow, limits).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(doc.desired().empty());
  EXPECT_EQ(doc.version(), 0);
}

TEST(LimitForecasterTest, LinearRiseGivesTheTimeToTheLimit) {
  LimitForecaster f;
  const SensorLimit hot{.sensor = "t", .value = 100, .above = true};
  EXPECT_FALSE(f.SecondsUntil(hot).has_value());
  for (int s = 0; s <= 200; ++s) f.Update(kNow + s * 1'000'000'000LL, 0.25 * s);  // 0.25 /s
  ASSERT_TRUE(f.SecondsUntil(hot).has_value());
  EXPECT_NEAR(*f.SecondsUntil(hot), (100 - 50) / 0.25, 10);  // at 50, 200 s to go
  EXPECT_NEAR(f.slope_per_s(), 0.25, 0.01);
  EXPECT_FALSE(f.SecondsUntil({.sensor = "t", .value = 10, .above = false}).has_value());
  EXPECT_EQ(*f.SecondsUntil({.sensor = "t", .value = 20, .above = true}), 0);  // already past
}

TEST(TwinRegistryTest, DesiredIsSavedAtOnceReportedFollowsTelemetryAndBothSurviveARestart) {
  testing::TempDir dir;
  std::string path = dir.File("t.db");
  ASSERT_TRUE(store::Store::Open({.path = path}).ok());
  std::vector<std::pair<std::string, json>> deltas;
  TwinOptions options{.store_path = path,
                      .sensor_limits = {{.sensor = "temperature", .value = 80, .above = true}},
                      .flush_interval_ms = 60000};
  {
    auto twins =
        TwinRegistry::Open(options, [&](const std::string& device, const json& delta, const json&,
                                        int64_t) { deltas.emplace_back(device, delta); });
    ASSERT_TRUE(twins.ok()) << twins.status();
    EXPECT_EQ((*twins)->Get("d1").status().code(), absl::StatusCode::kNotFound);
    std::vector<Reading> readings;
    for (int s = 0; s < 60; ++s) {
      readings.push_back({.device_id = "d1",
                          .sensor = "temperature",
                          .ts_ns = kNow + s * 1'000'000'000LL,
                          .value = 20 + 0.5 * s});
    }
    (*twins)->ReportReadings(readings);
    auto updated = (*twins)->UpdateDesired("d1", {{"interval_s", 10}}, 0);
    ASSERT_TRUE(updated.ok()) << updated.status();
    EXPECT_EQ((*updated)["version"], 1);
    EXPECT_EQ((*updated)["state"]["reported"]["temperature"], 49.5);
    ASSERT_EQ(deltas.size(), 1u);
    EXPECT_EQ(deltas[0].second, json({{"interval_s", 10}}));
    EXPECT_EQ((*twins)->UpdateDesired("d1", {{"interval_s", 5}}, 0).status().code(),
              absl::StatusCode::kAborted);
    ASSERT_TRUE((*twins)->UpdateReported("d1", {{"interval_s", 10}}).ok());
    auto doc = (*twins)->Get("d1");
    EXPECT_TRUE((*doc)["state"]["delta"].empty());
    const json& m = (*doc)["maintenance"]["temperature"];
    EXPECT_EQ(m["direction"], "above");
    ASSERT_TRUE(m["eta_s"].is_number()) << m;
    // Rising 0.5 per second from about 49.5: about a minute to 80.
    EXPECT_NEAR(m["eta_s"].get<double>(), 61, 15);
    EXPECT_NEAR(m["slope_per_hour"].get<double>(), 1800, 200);
  }
  auto twins = TwinRegistry::Open(options);
  ASSERT_TRUE(twins.ok());
  auto doc = (*twins)->Get("d1");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["version"], 1);
  EXPECT_EQ((*doc)["state"]["desired"]["interval_s"], 10);
  EXPECT_EQ((*doc)["state"]["reported"]["temperature"], 49.5);
}

}  // namespace
}  // namespace edgeway::twin
