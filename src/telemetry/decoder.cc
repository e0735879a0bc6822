#include "edgeway/telemetry/decoder.h"

#include <cmath>
#include <limits>
#include <optional>

#include "absl/time/time.h"
#include "edgeway/core/strings.h"
#include "simdjson.h"
#include "telemetry/internal/python_literal.h"

namespace edgeway {

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kOversized:
      return "oversized";
    case RejectReason::kNoDeviceId:
      return "no_device_id";
    case RejectReason::kInvalidId:
      return "invalid_id";
    case RejectReason::kDeviceMismatch:
      return "device_mismatch";
    case RejectReason::kNonFinite:
      return "non_finite";
    case RejectReason::kFutureTimestamp:
      return "future_timestamp";
    case RejectReason::kNoReadings:
      return "no_readings";
    case RejectReason::kQueueFull:
      return "queue_full";
    case RejectReason::kImplausible:
      return "implausible";
    case RejectReason::kUnauthenticated:
      return "unauthenticated";
    case RejectReason::kBadEnvelope:
      return "bad_envelope";
    case RejectReason::kUnknownDevice:
      return "unknown_device";
    case RejectReason::kRevoked:
      return "revoked";
    case RejectReason::kBadSignature:
      return "bad_signature";
    case RejectReason::kBadTag:
      return "bad_tag";
    case RejectReason::kReplay:
      return "replay";
    case RejectReason::kStaleTimestamp:
      return "stale_timestamp";
    case RejectReason::kTopicNotAllowed:
      return "topic_not_allowed";
    case RejectReason::kCount:
      break;
  }
  return "unknown";
}

const char* InsightKindName(Insight::Kind kind) {
  switch (kind) {
    case Insight::Kind::kTrend:
      return "trend";
    case Insight::Kind::kStuck:
      return "stuck";
    case Insight::Kind::kAnomaly:
      break;
  }
  return "anomaly";
}

std::optional<Insight::Kind> ParseInsightKind(std::string_view name) {
  for (Insight::Kind kind :
       {Insight::Kind::kAnomaly, Insight::Kind::kTrend, Insight::Kind::kStuck}) {
    if (name == InsightKindName(kind)) return kind;
  }
  return std::nullopt;
}

namespace {

constexpr size_t kMaxIdBytes = 128;

bool IsIdChar(char c, bool allow_slash) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-' || (allow_slash && c == '/');
}

bool IsValidName(std::string_view id, bool allow_slash) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (char c : id) {
    if (!IsIdChar(c, allow_slash)) return false;
  }
  return true;
}

// The device named by a topic `devices/{id}/...`, or empty.
std::string_view TopicDevice(std::string_view topic) {
  constexpr std::string_view kPrefix = "devices/";
  if (!topic.starts_with(kPrefix)) return {};
  topic.remove_prefix(kPrefix.size());
  return topic.substr(0, topic.find('/'));
}

// Seconds, milliseconds, microseconds or nanoseconds since the epoch, told apart by magnitude
// (any of them for a date between 1973 and 2286 lands in exactly one band). Whole units are
// converted exactly; only the fraction goes through floating point. Times past what int64
// nanoseconds hold (year 2262) saturate to INT64_MAX, which the future-skew rule then refuses.
// Negative times have no meaning here: nullopt.
constexpr int64_t kScaleOf[] = {1, 1'000, 1'000'000, 1'000'000'000};

int64_t ScaleFor(double t) {
  return t >= 1e17 ? kScaleOf[0] : t >= 1e14 ? kScaleOf[1] : t >= 1e11 ? kScaleOf[2] : kScaleOf[3];
}

std::optional<int64_t> EpochNumberToNs(double t) {
  if (!std::isfinite(t) || t < 0) return std::nullopt;
  const int64_t scale = ScaleFor(t);
  const double whole = std::floor(t);
  if (whole >= static_cast<double>(INT64_MAX / scale)) return INT64_MAX;
  return static_cast<int64_t>(whole) * scale +
         static_cast<int64_t>(std::llround((t - whole) * static_cast<double>(scale)));
}

std::optional<int64_t> EpochIntegerToNs(int64_t t) {
  if (t < 0) return std::nullopt;
  const int64_t scale = ScaleFor(static_cast<double>(t));
  if (t >= INT64_MAX / scale) return INT64_MAX;
  return t * scale;
}

std::optional<int64_t> TextTimeToNs(std::string_view text) {
  absl::Time time;
  std::string err;
  std::string s(text);
  if (absl::ParseTime(absl::RFC3339_full, s, &time, &err) ||
      absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S", s, absl::UTCTimeZone(), &time, &err)) {
    return absl::ToUnixNanos(time);
  }
  return std::nullopt;
}

bool IsReservedKey(std::string_view key) {
  static constexpr std::string_view kReserved[] = {"device_id", "timestamp", "time",   "ts",
                                                   "location",  "unit",      "sensor", "sensor_id",
                                                   "value",     "seq"};
  for (std::string_view r : kReserved) {
    if (key == r) return true;
  }
  return false;
}

}  // namespace

bool IsValidDeviceId(std::string_view id) { return IsValidName(id, false); }
bool IsValidSensorName(std::string_view name) { return IsValidName(name, true); }

struct Decoder::Impl {
  simdjson::dom::parser parser;
  std::string literal_json;
};

Decoder::Decoder(DecoderOptions options) : options_(options), impl_(std::make_unique<Impl>()) {}
Decoder::~Decoder() = default;

namespace {

DecodeResult Reject(RejectReason reason, std::string detail) {
  DecodeResult r;
  r.ok = false;
  r.reason = reason;
  r.detail = std::move(detail);
  return r;
}

// Applies the clock rules to one reading's event time. Returns false for a future timestamp.
bool ResolveTime(std::optional<int64_t> ts, int64_t received_ns, const DecoderOptions& options,
                 Reading* reading, DecodeResult* result) {
  if (!ts) {
    reading->ts_ns = received_ns;
    reading->flags |= Reading::kReceiveTime;
    ++result->timestamp_missing;
    return true;
  }
  if (*ts > received_ns + options.max_future_skew_ns) return false;
  if (*ts < options.min_plausible_ns) {
    reading->ts_ns = received_ns;
    reading->flags |= Reading::kReceiveTime;
    ++result->clock_substituted;
    return true;
  }
  reading->ts_ns = *ts;
  return true;
}

using simdjson::dom::element;
using simdjson::dom::element_type;

bool IsNumber(const element& e) {
  element_type t = e.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

double NumberOf(const element& e) {
  double d = 0;
  if (e.get_double().get(d) != simdjson::SUCCESS) return 0;
  return d;
}

// The seed's object format.
DecodeResult DecodeObject(simdjson::dom::object obj, std::string_view topic, int64_t received_ns,
                          const DecoderOptions& options, std::vector<Reading>* out) {
  DecodeResult result;
  std::string_view device, location, unit, sensor;
  std::optional<int64_t> ts;
  std::optional<double> value;
  for (auto [key, v] : obj) {
    if (key == "device_id") {
      if (v.get_string().get(device) != simdjson::SUCCESS) {
        return Reject(RejectReason::kMalformed, "device_id must be a string");
      }
    } else if (key == "timestamp" || key == "time" || key == "ts") {
      if (int64_t whole; v.get_int64().get(whole) == simdjson::SUCCESS) {
        ts = EpochIntegerToNs(whole);
        if (!ts) ts = 0;
      } else if (IsNumber(v)) {
        ts = EpochNumberToNs(NumberOf(v));
        if (!ts) ts = 0;  // negative or absurd: an implausible clock
      } else if (std::string_view text; v.get_string().get(text) == simdjson::SUCCESS) {
        ts = TextTimeToNs(text);
        if (!ts) return Reject(RejectReason::kMalformed, StrCat(key, " is not a time"));
      } else if (!v.is_null()) {
        return Reject(RejectReason::kMalformed, StrCat(key, " must be a number or text"));
      }
    } else if (key == "location" || key == "unit") {
      if (v.get_string().get(key == "unit" ? unit : location) != simdjson::SUCCESS) {
        return Reject(RejectReason::kMalformed, StrCat(key, " must be a string"));
      }
    } else if (key == "sensor" || key == "sensor_id") {
      if (v.get_string().get(sensor) != simdjson::SUCCESS) {
        return Reject(RejectReason::kMalformed, StrCat(key, " must be a string"));
      }
    } else if (key == "value") {
      if (!IsNumber(v)) return Reject(RejectReason::kMalformed, "value must be a number");
      value = NumberOf(v);
    }
  }

  std::string_view topic_device = TopicDevice(topic);
  if (device.empty()) device = topic_device;
  if (device.empty()) return Reject(RejectReason::kNoDeviceId, "no device_id and no device topic");
  if (!IsValidDeviceId(device)) {
    return Reject(RejectReason::kInvalidId, StrCat("device id '", device.substr(0, 64), "'"));
  }
  if (!topic_device.empty() && topic_device != device) {
    return Reject(RejectReason::kDeviceMismatch,
                  StrCat("device_id '", device, "' on topic of '", topic_device, "'"));
  }

  const size_t first = out->size();
  auto add = [&](std::string_view name, double v) -> bool {
    Reading& r = out->emplace_back();
    r.device_id = device;
    r.sensor = name;
    r.value = v;
    r.unit = unit;
    r.location = location;
    r.received_ns = received_ns;
    return ResolveTime(ts, received_ns, options, &r, &result);
  };
  auto fail = [&](DecodeResult r) {
    out->resize(first);
    return r;
  };

  if (!sensor.empty() || value) {
    if (!value) return fail(Reject(RejectReason::kMalformed, "sensor without a numeric value"));
    if (sensor.empty()) sensor = "value";  // {"device_id": "x", "value": 3}
    if (!IsValidSensorName(sensor)) {
      return fail(Reject(RejectReason::kInvalidId, StrCat("sensor '", sensor.substr(0, 64), "'")));
    }
    if (!add(sensor, *value))
      return fail(Reject(RejectReason::kFutureTimestamp, "timestamp ahead"));
  }
  std::vector<std::pair<std::string, std::string>> tags;
  for (auto [key, v] : obj) {
    if (IsReservedKey(key)) continue;
    if (IsNumber(v)) {
      if (!IsValidSensorName(key)) {
        return fail(Reject(RejectReason::kInvalidId, StrCat("sensor '", key.substr(0, 64), "'")));
      }
      if (!add(key, NumberOf(v))) {
        return fail(Reject(RejectReason::kFutureTimestamp, "timestamp ahead of receive time"));
      }
    } else if (std::string_view text; v.get_string().get(text) == simdjson::SUCCESS) {
      tags.emplace_back(key, text);
    }
  }
  if (out->size() == first) return Reject(RejectReason::kNoReadings, "no numeric field");
  if (!tags.empty()) {
    for (size_t i = first; i < out->size(); ++i) (*out)[i].tags = tags;
  }
  result.ok = true;
  return result;
}

// A SenML pack (RFC 8428, JSON representation).
DecodeResult DecodeSenml(simdjson::dom::array pack, std::string_view topic, int64_t received_ns,
                         const DecoderOptions& options, std::vector<Reading>* out) {
  DecodeResult result;
  std::string_view topic_device = TopicDevice(topic);
  std::string_view base_name, base_unit;
  double base_time = 0, base_value = 0;
  const size_t first = out->size();
  auto fail = [&](DecodeResult r) {
    out->resize(first);
    return r;
  };
  for (element record : pack) {
    simdjson::dom::object obj;
    if (record.get_object().get(obj) != simdjson::SUCCESS) {
      return fail(Reject(RejectReason::kMalformed, "SenML record is not an object"));
    }
    std::string_view name, unit;
    std::optional<double> value;
    double time = 0;
    for (simdjson::dom::key_value_pair field : obj) {
      const std::string_view key = field.key;
      const element v = field.value;
      auto number = [&v](double* dst) -> bool {
        if (!IsNumber(v)) return false;
        *dst = NumberOf(v);
        return true;
      };
      bool ok = true;
      if (key == "bn") {
        ok = v.get_string().get(base_name) == simdjson::SUCCESS;
      } else if (key == "bt") {
        ok = number(&base_time);
      } else if (key == "bu") {
        ok = v.get_string().get(base_unit) == simdjson::SUCCESS;
      } else if (key == "bv") {
        ok = number(&base_value);
      } else if (key == "n") {
        ok = v.get_string().get(name) == simdjson::SUCCESS;
      } else if (key == "u") {
        ok = v.get_string().get(unit) == simdjson::SUCCESS;
      } else if (key == "t") {
        ok = number(&time);
      } else if (key == "v") {
        double d;
        ok = number(&d);
        value = d;
      }
      if (!ok)
        return fail(
            Reject(RejectReason::kMalformed, StrCat("SenML field '", key, "' has the wrong type")));
    }
    if (!value) continue;  // string, boolean, data or sum records carry no numeric reading

    std::string full = StrCat(base_name, name);
    std::string_view device, sensor;
    if (!base_name.empty() && !name.empty()) {
      device = base_name;
      while (!device.empty() && (device.back() == ':' || device.back() == '/'))
        device.remove_suffix(1);
      sensor = name;
    } else if (base_name.empty()) {
      device = topic_device;
      sensor = name;
    } else {
      std::string_view f(full);
      size_t cut = f.find_last_of(":/");
      if (cut == std::string_view::npos) {
        device = topic_device;
        sensor = f;
      } else {
        device = f.substr(0, cut);
        sensor = f.substr(cut + 1);
      }
    }
    if (device.empty())
      return fail(Reject(RejectReason::kNoDeviceId, "SenML record names no device"));
    if (!IsValidDeviceId(device)) {
      return fail(
          Reject(RejectReason::kInvalidId, StrCat("device id '", device.substr(0, 64), "'")));
    }
    if (!topic_device.empty() && device != topic_device) {
      return fail(Reject(RejectReason::kDeviceMismatch,
                         StrCat("device '", device, "' on topic of '", topic_device, "'")));
    }
    if (!IsValidSensorName(sensor)) {
      return fail(Reject(RejectReason::kInvalidId, StrCat("sensor '", sensor.substr(0, 64), "'")));
    }
    Reading& r = out->emplace_back();
    r.device_id = device;
    r.sensor = sensor;
    r.value = *value + base_value;
    r.unit = unit.empty() ? base_unit : unit;
    r.received_ns = received_ns;
    if (!std::isfinite(r.value)) return fail(Reject(RejectReason::kNonFinite, "value overflows"));
    // RFC 8428 4.5.3: a time below 2**28 is relative to now; zero means now.
    double t = base_time + time;
    std::optional<int64_t> ts;
    if (t == 0) {
      ts = received_ns;
    } else if (std::abs(t) < 268435456.0) {
      ts = received_ns + static_cast<int64_t>(std::llround(t * 1e9));
    } else {
      ts = EpochNumberToNs(t);
      if (!ts) ts = 0;
    }
    if (!ResolveTime(ts, received_ns, options, &r, &result)) {
      return fail(Reject(RejectReason::kFutureTimestamp, "SenML time ahead of receive time"));
    }
  }
  if (out->size() == first)
    return fail(Reject(RejectReason::kNoReadings, "SenML pack has no numeric record"));
  result.ok = true;
  return result;
}

}  // namespace

DecodeResult Decoder::Decode(std::string_view topic, std::string_view payload, int64_t received_ns,
                             std::vector<Reading>* out) {
  if (payload.size() > options_.max_payload_bytes) {
    return Reject(RejectReason::kOversized,
                  StrCat(payload.size(), " bytes > limit ", options_.max_payload_bytes));
  }
  size_t start = payload.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || (payload[start] != '{' && payload[start] != '[')) {
    return Reject(RejectReason::kMalformed, "payload is not a JSON object or array");
  }
  element doc;
  if (impl_->parser.parse(payload.data(), payload.size()).get(doc) != simdjson::SUCCESS) {
    switch (internal::PythonLiteralToJson(payload, &impl_->literal_json)) {
      case internal::LiteralResult::kNonFinite:
        return Reject(RejectReason::kNonFinite, "NaN or infinity in payload");
      case internal::LiteralResult::kInvalid:
        return Reject(RejectReason::kMalformed, "neither JSON nor a Python literal");
      case internal::LiteralResult::kOk:
        break;
    }
    if (impl_->parser.parse(impl_->literal_json).get(doc) != simdjson::SUCCESS) {
      return Reject(RejectReason::kMalformed, "invalid JSON");
    }
  }
  if (simdjson::dom::array pack; doc.get_array().get(pack) == simdjson::SUCCESS) {
    return DecodeSenml(pack, topic, received_ns, options_, out);
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    return Reject(RejectReason::kMalformed, "payload is not a JSON object or array");
  }
  return DecodeObject(obj, topic, received_ns, options_, out);
}

}  // namespace edgeway
