#include "edgeway/core/clock.h"

#include <ctime>

namespace edgeway {
namespace {

int64_t ReadClock(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSecond + ts.tv_nsec;
}

class RealClock final : public Clock {
 public:
  int64_t NowNs() const override { return ReadClock(CLOCK_REALTIME); }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

int64_t MonotonicNs() { return ReadClock(CLOCK_MONOTONIC); }

}  // namespace edgeway
