#include "edgeway/telemetry/decoder.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace edgeway {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Pair;

constexpr int64_t kNow = 1'764'200'000LL * 1'000'000'000;  // 2025-11-26T23:33:20Z

class DecoderTest : public ::testing::Test {
 protected:
  DecodeResult Decode(std::string_view payload, std::string_view topic = "sensors/temperature") {
    out_.clear();
    return decoder_.Decode(topic, payload, kNow, &out_);
  }
  Decoder decoder_;
  std::vector<Reading> out_;
};

TEST_F(DecoderTest, SeedObjectEveryNumericFieldIsAReading) {
  DecodeResult r = Decode(
      R"({"device_id": "sensor_001", "timestamp": 1764199990.25, "temperature": 23.5,
          "humidity": 40, "location": "room_101", "fw": "1.2"})");
  ASSERT_TRUE(r.ok) << r.detail;
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[0].device_id, "sensor_001");
  EXPECT_EQ(out_[0].sensor, "temperature");
  EXPECT_DOUBLE_EQ(out_[0].value, 23.5);
  EXPECT_EQ(out_[0].ts_ns, 1'764'199'990'250'000'000);
  EXPECT_EQ(out_[0].location, "room_101");
  EXPECT_THAT(out_[0].tags, ElementsAre(Pair("fw", "1.2")));
  EXPECT_EQ(out_[1].sensor, "humidity");
  EXPECT_DOUBLE_EQ(out_[1].value, 40);
  EXPECT_EQ(out_[1].flags, 0u);
}

TEST_F(DecoderTest, SensorValueFormAndDeviceFromTopic) {
  DecodeResult r = Decode(R"({"sensor": "temp", "value": -3, "unit": "Cel", "ts": 1764199999000})",
                          "devices/dev-9/telemetry");
  ASSERT_TRUE(r.ok) << r.detail;
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].device_id, "dev-9");
  EXPECT_EQ(out_[0].sensor, "temp");
  EXPECT_EQ(out_[0].unit, "Cel");
  EXPECT_EQ(out_[0].ts_ns, 1'764'199'999'000'000'000);  // milliseconds told apart by magnitude
}

TEST_F(DecoderTest, LoneValueIsSensorValueAndSensorNeedsAValue) {
  ASSERT_TRUE(Decode(R"({"device_id": "d", "value": 3})").ok);
  EXPECT_EQ(out_[0].sensor, "value");
  EXPECT_DOUBLE_EQ(out_[0].value, 3);
  DecodeResult r = Decode(R"({"device_id": "d", "sensor": "t", "value": "hot"})");
  EXPECT_EQ(r.reason, RejectReason::kMalformed);
  r = Decode(R"({"device_id": "d", "sensor": "t"})");
  EXPECT_EQ(r.reason, RejectReason::kMalformed);
}

TEST_F(DecoderTest, PythonDictTextIsTheSameObject) {
  DecodeResult r = Decode(
      "{'device_id': 'sensor_001', 'timestamp': 1764199990, 'temperature': 21.37, "
      "'location': 'room_101', 'ok': True, 'err': None, 'note': 'it\\'s'}");
  ASSERT_TRUE(r.ok) << r.detail;
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].device_id, "sensor_001");
  EXPECT_DOUBLE_EQ(out_[0].value, 21.37);
  EXPECT_EQ(out_[0].location, "room_101");
  EXPECT_THAT(out_[0].tags, ElementsAre(Pair("note", "it's")));
}

TEST_F(DecoderTest, MicroPythonEpoch2000ClockUsesReceiveTime) {
  // time.time() on a MicroPython port counting from 2000-01-01: 26 years after 2000 reads as 1996.
  DecodeResult r = Decode("{'device_id': 'mp1', 'timestamp': 817300000, 'temperature': 20.5}");
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.clock_substituted, 1u);
  EXPECT_EQ(out_[0].ts_ns, kNow);
  EXPECT_EQ(out_[0].flags, Reading::kReceiveTime);
}

TEST_F(DecoderTest, MissingTimestampUsesReceiveTime) {
  DecodeResult r = Decode(R"({"device_id": "d", "t": 1})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.timestamp_missing, 1u);
  EXPECT_EQ(r.clock_substituted, 0u);
  EXPECT_EQ(out_[0].ts_ns, kNow);
}

TEST_F(DecoderTest, Rfc3339AndNaiveIsoTimes) {
  ASSERT_TRUE(Decode(R"({"device_id": "d", "timestamp": "2025-11-26T23:00:00+01:00", "x": 1})").ok);
  EXPECT_EQ(out_[0].ts_ns, 1'764'194'400LL * 1'000'000'000);
  ASSERT_TRUE(Decode(R"({"device_id": "d", "timestamp": "2025-11-26T23:00:00.5", "x": 1})").ok);
  EXPECT_EQ(out_[0].ts_ns, 1'764'198'000'500'000'000);
}

TEST_F(DecoderTest, SenmlResolvesBaseFields) {
  // RFC 8428 section 5.1.2 example, shifted to a recent base time.
  DecodeResult r = Decode(
      R"([{"bn":"urn:dev:ow:10e2073a01080063:","bt":1764199000,"bu":"A","bver":5,
           "n":"voltage","u":"V","v":120.1},
          {"n":"current","t":-5,"v":1.2},
          {"n":"current","t":-4,"v":1.3},
          {"n":"label","vs":"ignored"}])");
  ASSERT_TRUE(r.ok) << r.detail;
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(out_[0].device_id, "urn:dev:ow:10e2073a01080063");
  EXPECT_EQ(out_[0].sensor, "voltage");
  EXPECT_EQ(out_[0].unit, "V");
  EXPECT_EQ(out_[0].ts_ns, 1'764'199'000LL * 1'000'000'000);
  EXPECT_EQ(out_[1].unit, "A");
  EXPECT_EQ(out_[1].ts_ns, 1'764'198'995LL * 1'000'000'000);
  EXPECT_DOUBLE_EQ(out_[2].value, 1.3);
}

TEST_F(DecoderTest, SenmlRelativeTimeAndBaseValue) {
  DecodeResult r = Decode(R"([{"bv":10,"n":"level","v":2.5,"t":-2}])", "devices/tank-1/senml");
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(out_[0].device_id, "tank-1");
  EXPECT_DOUBLE_EQ(out_[0].value, 12.5);
  EXPECT_EQ(out_[0].ts_ns, kNow - 2'000'000'000);
}

TEST_F(DecoderTest, RejectsEachReasonAndLeavesOutputAlone) {
  struct Case {
    std::string payload;
    std::string topic;
    RejectReason reason;
  };
  std::vector<Case> cases = {
      {"not json", "sensors/x", RejectReason::kMalformed},
      {R"({"device_id": "d", "x": )", "sensors/x", RejectReason::kMalformed},
      {R"({"temperature": 1})", "sensors/x", RejectReason::kNoDeviceId},
      {R"({"device_id": "a b", "x": 1})", "sensors/x", RejectReason::kInvalidId},
      {R"({"device_id": "a", "x": 1})", "devices/b/telemetry", RejectReason::kDeviceMismatch},
      {"{'device_id': 'd', 'x': nan}", "sensors/x", RejectReason::kNonFinite},
      {R"({"device_id": "d", "x": NaN})", "sensors/x", RejectReason::kNonFinite},
      {R"({"device_id": "d", "x": 1e400})", "sensors/x", RejectReason::kMalformed},
      {R"({"device_id": "d", "timestamp": 1864200000, "x": 1})", "sensors/x",
       RejectReason::kFutureTimestamp},
      // Seconds past year 2262 do not fit int64 nanoseconds (found by the fuzzer).
      {R"({"device_id": "d", "timestamp": 11764200000.5, "x": 1})", "sensors/x",
       RejectReason::kFutureTimestamp},
      {R"({"device_id": "d", "timestamp": 99999999999, "x": 1})", "sensors/x",
       RejectReason::kFutureTimestamp},
      {R"([{"bn": "d:", "bt": 9.9e10, "n": "x", "v": 1}])", "sensors/x",
       RejectReason::kFutureTimestamp},
      {R"({"device_id": "d", "location": "r1"})", "sensors/x", RejectReason::kNoReadings},
      {R"({"device_id": 7, "x": 1})", "sensors/x", RejectReason::kMalformed},
      {R"([{"n":"x","v":"a"}])", "devices/d/senml", RejectReason::kMalformed},
      {R"([{"n":"x","vs":"a"}])", "devices/d/senml", RejectReason::kNoReadings},
      {R"([{"n":"x","v":1}])", "sensors/x", RejectReason::kNoDeviceId},
      {R"([{"bn":"d1/","n":"x","v":1},{"bn":"d2/","n":"x","v":1}])", "devices/d1/senml",
       RejectReason::kDeviceMismatch},
  };
  for (const Case& c : cases) {
    out_ = {Reading{}};
    DecodeResult r = decoder_.Decode(c.topic, c.payload, kNow, &out_);
    EXPECT_FALSE(r.ok) << c.payload;
    EXPECT_EQ(RejectReasonName(r.reason), std::string(RejectReasonName(c.reason))) << c.payload;
    EXPECT_EQ(out_.size(), 1u) << c.payload;
  }
}

TEST_F(DecoderTest, OversizedPayloadRejectedBeforeParsing) {
  Decoder small({.max_payload_bytes = 16});
  std::vector<Reading> out;
  DecodeResult r = small.Decode("sensors/x", R"({"device_id": "d", "x": 1})", kNow, &out);
  EXPECT_EQ(r.reason, RejectReason::kOversized);
}

TEST(IdTest, ValidCharacters) {
  EXPECT_TRUE(IsValidDeviceId("sensor_001"));
  EXPECT_TRUE(IsValidDeviceId("urn:dev:mac:0024befffe804ff1"));
  EXPECT_FALSE(IsValidDeviceId(""));
  EXPECT_FALSE(IsValidDeviceId("a/b"));
  EXPECT_FALSE(IsValidDeviceId(std::string(129, 'a')));
  EXPECT_TRUE(IsValidSensorName("env/temp"));
  EXPECT_FALSE(IsValidSensorName("t+1"));
}

}  // namespace
}  // namespace edgeway
