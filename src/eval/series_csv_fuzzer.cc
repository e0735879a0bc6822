// Feeds arbitrary bytes to the `timestamp,value` CSV parser that `edgeway detect` reads its input
// with. Sanitizers catch memory errors and undefined casts; the check is that every row it
// accepts has a timestamp, a time, a finite value and a line after the last row's.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "edgeway/eval/series.h"

// Both ways: stopping at the first bad row, and leaving bad rows out (edgeway detect). Left out
// or not, the rows kept are the same.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> bad_rows;
  auto lenient = edgeway::eval::ParseSeriesCsv(text, "fuzz.csv", &bad_rows);
  auto strict = edgeway::eval::ParseSeriesCsv(text, "fuzz.csv");
  if (strict.ok() && (!lenient.ok() || !bad_rows.empty() || lenient->values != strict->values)) {
    std::abort();
  }
  if (!lenient.ok()) return 0;
  const size_t rows = lenient->values.size();
  if (rows == 0 || lenient->timestamps.size() != rows || lenient->ts_ns.size() != rows ||
      lenient->lines.size() != rows) {
    std::abort();
  }
  for (size_t i = 0; i < rows; ++i) {
    if (!std::isfinite(lenient->values[i])) std::abort();
    if (i > 0 && lenient->lines[i] <= lenient->lines[i - 1]) std::abort();
  }
  return 0;
}
