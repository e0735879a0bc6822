// Feeds arbitrary bytes, as a key's saved analytics state read back from the store file, to
// KeyedAnalytics::Restore for both detectors. Sanitizers catch memory errors and undefined
// behaviour; the checks are that what it restores goes on judging readings, with ensemble scores
// in [0, 1].
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "edgeway/stream/analytics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using edgeway::stream::DetectorKind;
  const edgeway::SavedKeyState saved = {"d", "t",
                                        std::string(reinterpret_cast<const char*>(data), size)};
  for (DetectorKind kind : {DetectorKind::kSigma, DetectorKind::kEnsemble}) {
    edgeway::stream::KeyedAnalytics analytics({.detector = kind, .skip_duplicates = true});
    if (!analytics.Restore(saved)) continue;
    std::vector<edgeway::Insight> insights;
    edgeway::Reading r{.device_id = "d", .sensor = "t"};
    for (int i = 0; i < 64; ++i) {
      r.ts_ns = 1'000'000'000LL * (1000 + i);
      r.value = i % 9 == 0 ? 1e6 : 20 + i % 3;
      const edgeway::stream::Verdict v = analytics.Process(r, &insights);
      if (!(v.score >= 0 && v.score <= 1)) std::abort();
    }
  }
  return 0;
}
