// Feeds arbitrary bytes to the Python-literal translator. Sanitizers catch memory errors; the
// check is that text it accepts never grows without bound.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "telemetry/internal/python_literal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string json;
  auto result = edgeway::internal::PythonLiteralToJson(
      std::string_view(reinterpret_cast<const char*>(data), size), &json);
  if (result == edgeway::internal::LiteralResult::kOk && json.size() > 2 * size + 2) std::abort();
  return 0;
}
