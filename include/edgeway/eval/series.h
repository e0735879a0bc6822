#pragma once

#include <cstdint>
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

// Parses CSV text of `timestamp,value` rows, after a header line if the first line is neither a
// time nor a number in its two fields (`timestamp,value`, `time,temperature`, ...); columns after
// the second are ignored. The timestamp is RFC 3339, "YYYY-MM-DD HH:MM:SS[.frac]" (UTC), or a
// number of seconds since the epoch (within the nanosecond range of int64, about 292 years either
// side of 1970). A bad row is an error (InvalidArgument) that names `name` and the line
// ("x.csv:17: value 'abc' is not a number"); with `bad_rows`, it is described there instead and
// left out. No valid row at all is an error either way.
absl::StatusOr<TimeSeries> ParseSeriesCsv(std::string_view text, std::string_view name,
                                          std::vector<std::string>* bad_rows = nullptr);

// ParseSeriesCsv on the file at `path`; NotFound when it cannot be read.
absl::StatusOr<TimeSeries> ReadSeriesCsv(const std::string& path,
                                         std::vector<std::string>* bad_rows = nullptr);

// A NAB series with its labelled windows as inclusive row ranges.
struct LabeledSeries {
  std::string name;  // e.g. "realKnownCause/nyc_taxi.csv"
  TimeSeries series;
  std::vector<std::pair<size_t, size_t>> windows;
};

// Reads `dir`/labels.json and every series it names under `dir`/data. Errors name the file.
absl::StatusOr<std::vector<LabeledSeries>> LoadNabCorpus(const std::string& dir);

}  // namespace edgeway::eval
