#include "edgeway/stream/window.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <random>

#include "gtest/gtest.h"

namespace edgeway::stream {
namespace {

TEST(CountWindowTest, HandComputedValues) {
  CountWindow w(3);
  for (double x : {1.0, 2.0, 3.0, 4.0}) w.Push(x);
  // window {2, 3, 4}: mean 3, population variance (1 + 0 + 1) / 3
  EXPECT_EQ(w.size(), 3u);
  EXPECT_DOUBLE_EQ(w.mean(), 3.0);
  EXPECT_NEAR(w.variance(), 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(w.min(), 2.0);
  EXPECT_DOUBLE_EQ(w.max(), 4.0);
  EXPECT_DOUBLE_EQ(w.recent(0), 4.0);
  EXPECT_DOUBLE_EQ(w.recent(2), 2.0);
}

TEST(CountWindowTest, PartiallyFilled) {
  CountWindow w(50);
  w.Push(5);
  EXPECT_DOUBLE_EQ(w.mean(), 5);
  EXPECT_DOUBLE_EQ(w.variance(), 0);
  w.Push(7);
  EXPECT_DOUBLE_EQ(w.mean(), 6);
  EXPECT_DOUBLE_EQ(w.variance(), 1);
  EXPECT_DOUBLE_EQ(w.min(), 5);
  EXPECT_DOUBLE_EQ(w.max(), 7);
}

TEST(CountWindowTest, CapacityOneHoldsTheLastValue) {
  CountWindow w(1);
  w.Push(3);
  w.Push(-8);
  EXPECT_DOUBLE_EQ(w.mean(), -8);
  EXPECT_DOUBLE_EQ(w.variance(), 0);
  EXPECT_DOUBLE_EQ(w.min(), -8);
  EXPECT_DOUBLE_EQ(w.max(), -8);
}

// Against a brute-force pass over the same window, over many pushes (past the periodic
// recomputation) of a series with a large offset, where naive sums lose precision.
TEST(CountWindowTest, MatchesBruteForceOverLongNoisySeries) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 3);
  for (size_t cap : {2u, 7u, 50u}) {
    CountWindow w(cap);
    std::deque<double> ref;
    for (int i = 0; i < 20000; ++i) {
      double x = 1e6 + noise(rng) + (i % 997 == 0 ? 500 : 0);
      w.Push(x);
      ref.push_back(x);
      if (ref.size() > cap) ref.pop_front();
      if (i % 101 != 0) continue;
      double mean = 0;
      for (double v : ref) mean += v;
      mean /= static_cast<double>(ref.size());
      double var = 0;
      for (double v : ref) var += (v - mean) * (v - mean);
      var /= static_cast<double>(ref.size());
      ASSERT_NEAR(w.mean(), mean, 1e-6) << "cap " << cap << " i " << i;
      ASSERT_NEAR(w.variance(), var, 1e-6 * std::max(1.0, var)) << "cap " << cap << " i " << i;
      ASSERT_EQ(w.min(), *std::min_element(ref.begin(), ref.end()));
      ASSERT_EQ(w.max(), *std::max_element(ref.begin(), ref.end()));
    }
  }
}

}  // namespace
}  // namespace edgeway::stream
