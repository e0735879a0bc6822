#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgeway/telemetry/reading.h"

namespace edgeway {

// Why a message was refused. Every refused message is counted under exactly one reason.
enum class RejectReason : uint8_t {
  kMalformed,        // not JSON, not SenML, not a Python literal; or a field of the wrong type
  kOversized,        // payload larger than DecoderOptions::max_payload_bytes
  kNoDeviceId,       // neither the payload nor the topic names the device
  kInvalidId,        // device id or sensor name empty, too long or with forbidden characters
  kDeviceMismatch,   // payload device_id differs from the one in the topic
  kNonFinite,        // NaN or infinity as a value
  kFutureTimestamp,  // event time further ahead of the receive time than allowed
  kNoReadings,       // a well-formed message that carries no numeric reading
  kQueueFull,        // dropped by the overflow policy (counted by the pipeline, not the decoder)
  kImplausible,      // a reading outside the plausible range ingest.plausible gives its sensor
                     // (counted per reading by the gateway; the message's other readings go on)
  // Device authentication (counted by the gateway's authenticator):
  kUnauthenticated,  // a plain message while security.require asks for signed or sealed ones
  kBadEnvelope,      // an envelope that does not parse
  kUnknownDevice,    // an envelope from a device the registry does not have
  kRevoked,          // from a revoked device
  kBadSignature,     // the signature does not verify (or a session init does not)
  kBadTag,           // a sealed message that does not decrypt, or under an unknown session
  kReplay,           // a sequence number seen before, or older than the replay window
  kStaleTimestamp,   // a timestamp outside security.max_skew_s of the gateway's clock
  kTopicNotAllowed,  // on a topic the registry does not allow the device
  kCount,
};
inline constexpr size_t kRejectReasonCount = static_cast<size_t>(RejectReason::kCount);

// Whether `reason` counts readings refused one by one rather than whole messages: the overflow
// policy's drops, and implausible values.
constexpr bool CountsReadings(RejectReason reason) {
  return reason == RejectReason::kQueueFull || reason == RejectReason::kImplausible;
}

// Stable snake_case name, used in summaries and metrics.
const char* RejectReasonName(RejectReason reason);

struct DecoderOptions {
  size_t max_payload_bytes = 64 * 1024;
  // Event times further ahead of the receive time than this are refused.
  int64_t max_future_skew_ns = 300LL * 1'000'000'000;
  // Event times before this (default 2015-01-01) are taken as a wrong device clock: the reading
  // keeps the receive time instead and is flagged Reading::kReceiveTime.
  int64_t min_plausible_ns = 1'420'070'400LL * 1'000'000'000;
};

// What one message turned into. On success `readings` holds at least one reading.
struct DecodeResult {
  bool ok = false;
  RejectReason reason = RejectReason::kMalformed;  // when !ok
  std::string detail;                              // when !ok: what was wrong, for the log
  // Readings that got the receive time for an implausible device clock, and for having none.
  uint32_t clock_substituted = 0;
  uint32_t timestamp_missing = 0;
};

// Turns MQTT messages into readings. Accepts, by the payload's first character:
//  - '[': a SenML pack (RFC 8428) with base name, time, unit and value resolution. The device is
//    the base name without its trailing ':' or '/' separator (or, without a base name, the
//    topic's device); the sensor is the record's name.
//  - '{': an object as the seed's devices send, {"device_id", "timestamp", "temperature",
//    "location"}: every numeric field other than the reserved ones (device_id, timestamp, time,
//    ts, location, unit, sensor, sensor_id, value, seq) is a reading of that sensor, and
//    {"sensor": s, "value": v} is one reading of sensor s. String fields become tags.
//  - the same object printed by Python's str(dict): single quotes, True/False/None.
// The device may also come from the topic `devices/{id}/...`. Timestamps are seconds (float),
// milliseconds, microseconds or nanoseconds since the Unix epoch, told apart by magnitude, or
// RFC 3339 text.
//
// Not thread-safe (it reuses its parser's buffers): use one decoder per thread.
class Decoder {
 public:
  explicit Decoder(DecoderOptions options = {});
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Appends the readings of one message to `out`. On failure `out` is left as it was.
  DecodeResult Decode(std::string_view topic, std::string_view payload, int64_t received_ns,
                      std::vector<Reading>* out);

  const DecoderOptions& options() const { return options_; }

 private:
  struct Impl;
  DecoderOptions options_;
  std::unique_ptr<Impl> impl_;
};

// True when `id` is usable as a device id or sensor name: 1 to 128 bytes of [A-Za-z0-9._:-]
// (and '/' for sensors).
bool IsValidDeviceId(std::string_view id);
bool IsValidSensorName(std::string_view name);

}  // namespace edgeway
