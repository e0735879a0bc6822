#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace edgeway {

// One measurement of one sensor of one device.
struct Reading {
  // Flags describing how the reading was obtained.
  enum Flag : uint32_t {
    // The device sent no timestamp, or one that cannot be right (a MicroPython clock counting
    // from 2000, an unset RTC); `ts_ns` is the gateway's receive time instead.
    kReceiveTime = 1u << 0,
  };

  std::string device_id;
  std::string sensor;
  int64_t ts_ns = 0;     // event time, nanoseconds since the Unix epoch
  double value = 0;      // always finite
  std::string unit;      // may be empty
  std::string location;  // may be empty
  std::vector<std::pair<std::string, std::string>> tags;  // other string fields of the message
  uint32_t flags = 0;
  int64_t received_ns = 0;  // gateway receive time
};

// An analytics conclusion about one (device, sensor) key, as the seed's generate_insights makes
// them: a one-line summary, suggested actions and a confidence in [0, 1].
struct Insight {
  enum class Kind { kAnomaly, kTrend };

  std::string device_id;
  std::string sensor;
  int64_t ts_ns = 0;  // event time of the reading that raised it
  Kind kind = Kind::kAnomaly;
  std::string summary;
  std::vector<std::string> actions;
  double confidence = 0;
  double value = 0;     // the reading's value
  double expected = 0;  // the window mean (anomaly) or the forecast
  double score = 0;     // |z| for anomalies; relative change for trends
};

const char* InsightKindName(Insight::Kind kind);

}  // namespace edgeway
