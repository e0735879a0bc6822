#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace edgeway {

// Sets up spdlog's default logger on stderr at `level` (trace, debug, info, warn, error, off).
// Returns InvalidArgument for an unknown level.
absl::Status InitLogging(std::string_view level);

// Lets through at most one event per `interval_ns` and counts the ones it held back, so that a
// flood of bad input costs one log line per interval. Thread-safe and lock-free.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(int64_t interval_ns = 10'000'000'000) : interval_ns_(interval_ns) {}

  // Returns true when the caller should log now; `suppressed` gets the number of events held
  // back since the last one that was let through.
  bool Allow(int64_t now_ns, uint64_t* suppressed);

 private:
  const int64_t interval_ns_;
  std::atomic<int64_t> next_ns_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace edgeway
