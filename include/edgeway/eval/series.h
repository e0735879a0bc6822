#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace edgeway::eval {

// A `timestamp,value` series as NAB and `edgeway detect` read it.
struct TimeSeries {
  std::vector<std::string> timestamps;  // as written in the file
  std::vector<int64_t> ts_ns;           // parsed (UTC when the text has no zone)
  std::vector<double> values;
};

// Reads a CSV file with a header line and rows of `timestamp,value`. The timestamp is RFC 3339,
// "YYYY-MM-DD HH:MM:SS[.frac]" (UTC), or a number of seconds since the epoch. Errors
// (InvalidArgument, NotFound) name the file and line: "x.csv:17: value 'abc' is not a number".
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
