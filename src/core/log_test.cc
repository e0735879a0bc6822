#include "edgeway/core/log.h"

#include "edgeway/core/clock.h"
#include "gtest/gtest.h"

namespace edgeway {
namespace {

TEST(LogRateLimiterTest, LetsOneThroughPerIntervalAndCountsTheRest) {
  LogRateLimiter limiter(kNsPerSecond);
  uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.Allow(10 * kNsPerSecond, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(limiter.Allow(10 * kNsPerSecond + 1, &suppressed));
  EXPECT_FALSE(limiter.Allow(10 * kNsPerSecond + 2, &suppressed));
  EXPECT_TRUE(limiter.Allow(11 * kNsPerSecond, &suppressed));
  EXPECT_EQ(suppressed, 2u);
}

TEST(InitLoggingTest, RejectsUnknownLevel) {
  EXPECT_TRUE(InitLogging("warn").ok());
  absl::Status status = InitLogging("loud");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("loud"), std::string_view::npos);
}

}  // namespace
}  // namespace edgeway
