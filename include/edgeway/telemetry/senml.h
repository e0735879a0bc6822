#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "edgeway/telemetry/reading.h"
#include "nlohmann/json.hpp"

namespace edgeway {

// Builds one SenML pack (RFC 8428, JSON) of one device's records, as edgeway forwards upstream.
// The first record carries the base name "{device}:" and the base time (seconds since the
// epoch, of the first record); later records carry their time relative to it. Edgeway's own
// decoder reads the packs back into the same readings. Not thread-safe.
class SenmlPackWriter {
 public:
  explicit SenmlPackWriter(std::string_view device_id) : device_id_(device_id) {}

  // A reading: name = sensor, unit, numeric value.
  void AddReading(const Reading& reading);
  // A numeric record named `name` at `ts_ns` (a window statistic, say).
  void AddValue(std::string_view name, int64_t ts_ns, double value, std::string_view unit = {});
  // A string record (an insight's summary).
  void AddString(std::string_view name, int64_t ts_ns, std::string_view text);

  size_t records() const { return pack_.size(); }
  // The pack as JSON text; the writer is empty afterwards.
  std::string Finish();

 private:
  nlohmann::json& NewRecord(std::string_view name, int64_t ts_ns);

  std::string device_id_;
  int64_t base_ns_ = 0;
  nlohmann::json pack_ = nlohmann::json::array();
};

}  // namespace edgeway
