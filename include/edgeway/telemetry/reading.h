#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
  enum class Kind { kAnomaly, kTrend, kStuck };

  std::string device_id;
  std::string sensor;
  int64_t ts_ns = 0;  // event time of the reading that raised it
  Kind kind = Kind::kAnomaly;
  std::string summary;
  std::vector<std::string> actions;
  double confidence = 0;
  double value = 0;     // the reading's value
  double expected = 0;  // the window mean (anomaly), the forecast (trend) or the value (stuck)
  double score = 0;     // |z| for anomalies; relative change for trends; for a stuck sensor,
                        // its run over the longest run before
};

// "anomaly", "trend" or "stuck", and back.
const char* InsightKindName(Insight::Kind kind);
std::optional<Insight::Kind> ParseInsightKind(std::string_view name);

// Statistics of the readings of one (device, sensor) key whose event times fall in one window
// [start_ns, end_ns) of a declared event-time window.
struct WindowResult {
  std::string window;  // name of the window declaration in the config
  std::string device_id;
  std::string sensor;
  int64_t start_ns = 0;
  int64_t end_ns = 0;  // exclusive
  uint64_t count = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
  double stddev = 0;  // population (divides by count), as numpy.std
  // (percentile in [0, 100], value), linear interpolation between order statistics as
  // numpy.percentile's default.
  std::vector<std::pair<double, double>> percentiles;
  // 0 when the watermark closed the window; n at its n-th revision by late readings (the late
  // readings of one batch revise it once).
  uint32_t revision = 0;
};

// A reading that arrived after every window it belongs to had closed for good (its end plus the
// allowed lateness behind the watermark): the windows' side output. The reading itself is still
// stored; it is only missing from the window statistics.
struct LateReading {
  std::string window;
  Reading reading;
  int64_t watermark_ns = 0;  // the key's watermark when it arrived
};

// A message waiting in the outbox for the upstream broker.
struct OutboxMessage {
  std::string device_id;
  std::string topic;
  std::string payload;
  int64_t created_ns = 0;
};

// One (device, sensor) key's analytics state, saved now and then and at a gateway's stop, to go
// on from at its next start: opaque bytes (see stream::KeyedAnalytics::Save).
struct SavedKeyState {
  std::string device_id;
  std::string sensor;
  std::string bytes;
};

// What the analytics hand to the store in one go.
struct ResultBatch {
  std::vector<Reading> readings;
  std::vector<Insight> insights;
  std::vector<WindowResult> windows;
  std::vector<LateReading> late;
  std::vector<OutboxMessage> outbox;  // for upstream, in the same transaction
  // Keys' analytics state as of the end of this batch, each in place of what the store had for
  // its key: a snapshot, for a start after a crash to go on from.
  std::vector<SavedKeyState> analytics_state;
  // (device, sensor) keys the analytics forgot: what the store saved of their state goes too.
  std::vector<std::pair<std::string, std::string>> forgotten;

  bool empty() const { return rows() == 0; }
  size_t rows() const {
    return readings.size() + insights.size() + windows.size() + late.size() + outbox.size() +
           analytics_state.size() + forgotten.size();
  }
};

}  // namespace edgeway
