#include "edgeway/eval/series.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/time/time.h"
#include "edgeway/core/clock.h"
#include "edgeway/core/strings.h"
#include "nlohmann/json.hpp"

namespace edgeway::eval {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '"')) s.remove_suffix(1);
  return s;
}

bool ParseTimestamp(std::string_view text, int64_t* ns) {
  std::string s(text);
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, s, &t, &err) ||
      absl::ParseTime("%Y-%m-%d %H:%M:%E*S", s, absl::UTCTimeZone(), &t, &err) ||
      absl::ParseTime("%Y-%m-%dT%H:%M:%E*S", s, absl::UTCTimeZone(), &t, &err)) {
    *ns = absl::ToUnixNanos(t);
    return true;
  }
  double seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  std::optional<int64_t> converted = SecondsToNs(seconds);
  if (!converted) return false;
  *ns = *converted;
  return true;
}

}  // namespace

absl::StatusOr<std::optional<SeriesRow>> ParseSeriesLine(std::string_view line, size_t line_no,
                                                         std::string_view name) {
  const std::string_view l = Trim(line);
  if (l.empty()) return std::nullopt;
  const size_t comma = l.find(',');
  if (comma == std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat(name, ":", line_no, ": expected 'timestamp,value', got '", l.substr(0, 60), "'"));
  }
  SeriesRow row{.timestamp = Trim(l.substr(0, comma))};
  std::string_view value_text = Trim(l.substr(comma + 1));
  if (size_t extra = value_text.find(','); extra != std::string_view::npos) {
    value_text = Trim(value_text.substr(0, extra));  // more columns: the first two are ours
  }
  const bool is_time = ParseTimestamp(row.timestamp, &row.ts_ns);
  auto [end, ec] =
      std::from_chars(value_text.data(), value_text.data() + value_text.size(), row.value);
  const bool is_number =
      ec == std::errc() && end == value_text.data() + value_text.size() && std::isfinite(row.value);
  // A first line that is neither a time nor a number names the columns, whatever the names.
  if (line_no == 1 && !is_time && !is_number) return std::nullopt;
  if (!is_time) {
    return absl::InvalidArgumentError(StrCat(name, ":", line_no, ": timestamp '",
                                             row.timestamp.substr(0, 40), "' is not a time"));
  }
  if (!is_number) {
    return absl::InvalidArgumentError(
        StrCat(name, ":", line_no, ": value '", value_text.substr(0, 40), "' is not a number"));
  }
  return row;
}

absl::StatusOr<TimeSeries> ParseSeriesCsv(std::string_view text, std::string_view name) {
  TimeSeries out;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t eol = std::min(text.find('\n'), text.size());
    auto row = ParseSeriesLine(text.substr(0, eol), line_no, name);
    text.remove_prefix(std::min(eol + 1, text.size()));
    if (!row.ok()) return row.status();
    if (!row->has_value()) continue;
    out.timestamps.emplace_back((*row)->timestamp);
    out.ts_ns.push_back((*row)->ts_ns);
    out.values.push_back((*row)->value);
    out.lines.push_back(line_no);
  }
  if (out.values.empty()) return absl::InvalidArgumentError(StrCat(name, ": no rows"));
  return out;
}

absl::StatusOr<std::ifstream> OpenSeriesFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(StrCat(path, ": is a directory, not a CSV file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot open: ", std::strerror(errno)));
  return in;
}

absl::StatusOr<TimeSeries> ReadSeriesCsv(const std::string& path) {
  auto in = OpenSeriesFile(path);
  if (!in.ok()) return in.status();
  std::ostringstream text;
  text << in->rdbuf();
  return ParseSeriesCsv(text.str(), path);
}

absl::StatusOr<std::vector<LabeledSeries>> LoadNabCorpus(const std::string& dir) {
  const std::string labels_path = dir + "/labels.json";
  std::ifstream in(labels_path);
  if (!in) return absl::NotFoundError(StrCat(labels_path, ": cannot open"));
  nlohmann::json labels = nlohmann::json::parse(in, nullptr, false);
  if (!labels.is_object()) {
    return absl::InvalidArgumentError(StrCat(labels_path, ": not a JSON object"));
  }
  std::vector<LabeledSeries> corpus;
  for (auto& [name, windows] : labels.items()) {
    auto series = ReadSeriesCsv(dir + "/data/" + name);
    if (!series.ok()) return series.status();
    LabeledSeries ls{name, std::move(*series), {}};
    for (const auto& w : windows) {
      int64_t start = 0, end = 0;
      if (!w.is_array() || w.size() != 2 || !w[0].is_string() || !w[1].is_string() ||
          !ParseTimestamp(w[0].get<std::string>(), &start) ||
          !ParseTimestamp(w[1].get<std::string>(), &end)) {
        return absl::InvalidArgumentError(
            StrCat(labels_path, ": ", name, ": a window must be [start, end] timestamps"));
      }
      const std::vector<int64_t>& ts = ls.series.ts_ns;
      size_t first = std::lower_bound(ts.begin(), ts.end(), start) - ts.begin();
      size_t last = std::upper_bound(ts.begin(), ts.end(), end) - ts.begin();
      if (first < last) ls.windows.emplace_back(first, last - 1);
    }
    corpus.push_back(std::move(ls));
  }
  return corpus;
}

}  // namespace edgeway::eval
