// Feeds arbitrary bytes to the `timestamp,value` CSV parser that `edgeway detect` reads its input
// with. Sanitizers catch memory errors and undefined casts; the check is that every row it
// accepts has a timestamp, a time and a finite value.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "edgeway/eval/series.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto series = edgeway::eval::ParseSeriesCsv(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.csv");
  if (!series.ok()) return 0;
  const size_t rows = series->values.size();
  if (rows == 0 || series->timestamps.size() != rows || series->ts_ns.size() != rows) std::abort();
  for (double v : series->values) {
    if (!std::isfinite(v)) std::abort();
  }
  return 0;
}
