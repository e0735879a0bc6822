#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace edgeway::eval {

// A `timestamp,value` series as NAB and `edgeway detect` read it.
struct TimeSeries {
  std::vector<std::string> timestamps;  // as written in the file
  std::vector<int64_t> ts_ns;           // parsed (UTC when the text has no zone)
  std::vector<double> values;
  std::vector<size_t> lines;  // of each row in the text, from 1
};

// One `timestamp,value` row.
struct SeriesRow {
  std::string_view timestamp;  // as written, in the line it came from
  int64_t ts_ns = 0;
  double value = 0;
};

// Parses line `line_no` (from 1) of CSV text of `timestamp,value` rows: a row; none for a blank
// line, or for a first line that is neither a time nor a number in its two fields (a header:
// `timestamp,value`, `time,temperature`, ...). Columns after the second are ignored. The
// timestamp is RFC 3339, "YYYY-MM-DD HH:MM:SS[.frac]" (UTC), or a number of seconds since the
// epoch (within the nanosecond range of int64, about 292 years either side of 1970). A bad row is
// an error (InvalidArgument) that names `name` and the line ("x.csv:17: value 'abc' is not a
// number").
absl::StatusOr<std::optional<SeriesRow>> ParseSeriesLine(std::string_view line, size_t line_no,
                                                         std::string_view name);

// Parses CSV text of `timestamp,value` rows, line by line as ParseSeriesLine does; the first bad
// row is the error, and so is no row at all.
absl::StatusOr<TimeSeries> ParseSeriesCsv(std::string_view text, std::string_view name);

// The file at `path`, open to read: NotFound (with the system's reason) when it cannot be
// opened, InvalidArgument when it is a directory.
absl::StatusOr<std::ifstream> OpenSeriesFile(const std::string& path);

// ParseSeriesCsv on the file at `path`, opened by OpenSeriesFile.
absl::StatusOr<TimeSeries> ReadSeriesCsv(const std::string& path);

// A NAB series with its labelled windows as inclusive row ranges.
struct LabeledSeries {
  std::string name;  // e.g. "realKnownCause/nyc_taxi.csv"
  TimeSeries series;
  std::vector<std::pair<size_t, size_t>> windows;
};

// Reads `dir`/labels.json and every series it names under `dir`/data. Errors name the file.
absl::StatusOr<std::vector<LabeledSeries>> LoadNabCorpus(const std::string& dir);

}  // namespace edgeway::eval
