#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <optional>

namespace edgeway {

// The source of wall-clock time. Injected so that tests control time instead of sleeping.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds since the Unix epoch.
  virtual int64_t NowNs() const = 0;

  // The process-wide real clock (CLOCK_REALTIME). Never null, never destroyed.
  static Clock* Real();
};

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ns) : now_ns_(now_ns) {}
  int64_t NowNs() const override { return now_ns_.load(std::memory_order_relaxed); }
  void Set(int64_t now_ns) { now_ns_.store(now_ns, std::memory_order_relaxed); }
  void Advance(int64_t delta_ns) { now_ns_.fetch_add(delta_ns, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_ns_;
};

// Monotonic nanoseconds, for measuring intervals.
int64_t MonotonicNs();

inline constexpr int64_t kNsPerSecond = 1'000'000'000;
inline constexpr int64_t kNsPerMs = 1'000'000;

// `seconds` as nanoseconds, or nullopt when it is not finite or past what int64 nanoseconds hold
// (9.22e9 s either side of 1970), where the cast would be undefined.
inline std::optional<int64_t> SecondsToNs(double seconds) {
  if (!(std::abs(seconds) < 9.2e9)) return std::nullopt;
  return static_cast<int64_t>(seconds * 1e9);
}

}  // namespace edgeway
