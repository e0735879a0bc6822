// Feeds arbitrary bytes to the telemetry decoder, on both kinds of topic, and checks the
// decoder's promises: a success yields at least one finite reading with valid names; a failure
// leaves the output untouched.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "edgeway/telemetry/decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static edgeway::Decoder* decoder = new edgeway::Decoder();
  std::string_view payload(reinterpret_cast<const char*>(data), size);
  for (std::string_view topic : {"sensors/temperature", "devices/dev-1/telemetry"}) {
    std::vector<edgeway::Reading> out;
    edgeway::DecodeResult result = decoder->Decode(topic, payload, 1'700'000'000'000'000'000, &out);
    if (result.ok == out.empty()) std::abort();
    for (const edgeway::Reading& r : out) {
      if (!std::isfinite(r.value) || !edgeway::IsValidDeviceId(r.device_id) ||
          !edgeway::IsValidSensorName(r.sensor)) {
        std::abort();
      }
    }
  }
  return 0;
}
