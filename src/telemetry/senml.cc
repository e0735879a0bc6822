#include "edgeway/telemetry/senml.h"

namespace edgeway {

nlohmann::json& SenmlPackWriter::NewRecord(std::string_view name, int64_t ts_ns) {
  nlohmann::json record = nlohmann::json::object();
  if (pack_.empty()) {
    base_ns_ = ts_ns;
    record["bn"] = device_id_ + ":";
    record["bt"] = static_cast<double>(ts_ns / 1'000'000'000) +
                   static_cast<double>(ts_ns % 1'000'000'000) / 1e9;
  } else if (ts_ns != base_ns_) {
    record["t"] = static_cast<double>(ts_ns - base_ns_) / 1e9;
  }
  record["n"] = name;
  pack_.push_back(std::move(record));
  return pack_.back();
}

void SenmlPackWriter::AddReading(const Reading& reading) {
  AddValue(reading.sensor, reading.ts_ns, reading.value, reading.unit);
}

void SenmlPackWriter::AddValue(std::string_view name, int64_t ts_ns, double value,
                               std::string_view unit) {
  nlohmann::json& record = NewRecord(name, ts_ns);
  if (!unit.empty()) record["u"] = unit;
  record["v"] = value;
}

void SenmlPackWriter::AddString(std::string_view name, int64_t ts_ns, std::string_view text) {
  NewRecord(name, ts_ns)["vs"] = text;
}

std::string SenmlPackWriter::Finish() {
  std::string out = pack_.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  pack_ = nlohmann::json::array();
  return out;
}

}  // namespace edgeway
