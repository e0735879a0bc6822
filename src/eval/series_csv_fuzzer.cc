// Feeds arbitrary bytes to the `timestamp,value` CSV parser, both as `edgeway nab` reads a file
// (whole, stopping at the first bad row) and as `edgeway detect` reads a stream (line by line,
// leaving bad rows out). Sanitizers catch memory errors and undefined casts; the checks are that
// every row kept has a finite value and a line after the last row's, and that a text the whole
// parse accepts gives the same rows line by line, and no bad one.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "edgeway/eval/series.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto whole = edgeway::eval::ParseSeriesCsv(text, "fuzz.csv");
  std::vector<double> values;
  size_t bad = 0, line_no = 0;
  while (!text.empty()) {
    const size_t eol = std::min(text.find('\n'), text.size());
    auto row = edgeway::eval::ParseSeriesLine(text.substr(0, eol), ++line_no, "fuzz.csv");
    text.remove_prefix(std::min(eol + 1, text.size()));
    if (!row.ok()) {
      ++bad;
    } else if (row->has_value()) {
      if (!std::isfinite((*row)->value)) std::abort();
      values.push_back((*row)->value);
    }
  }
  if (!whole.ok()) return 0;
  if (bad != 0 || whole->values != values) std::abort();
  const size_t rows = whole->values.size();
  if (rows == 0 || whole->timestamps.size() != rows || whole->ts_ns.size() != rows ||
      whole->lines.size() != rows) {
    std::abort();
  }
  for (size_t i = 1; i < rows; ++i) {
    if (whole->lines[i] <= whole->lines[i - 1]) std::abort();
  }
  return 0;
}
