#include "edgeway/stream/window.h"

#include <algorithm>
#include <cmath>

#include "edgeway/core/check.h"

namespace edgeway::stream {
namespace {
constexpr uint64_t kRecomputeEvery = 4096;
}

CountWindow::CountWindow(size_t capacity)
    : values_(std::max<size_t>(capacity, 1)),
      min_(std::max<size_t>(capacity, 1)),
      max_(std::max<size_t>(capacity, 1)) {}

template <typename Dominates>
void CountWindow::MonotonicRing::Push(uint64_t s, double v, uint64_t oldest_live,
                                      Dominates dominates) {
  const size_t cap = seq.size();
  // Drop from the front what has left the window.
  while (count > 0 && seq[head] < oldest_live) {
    head = (head + 1) % cap;
    --count;
  }
  // Drop from the back what the new value dominates.
  while (count > 0) {
    size_t back = (head + count - 1) % cap;
    if (!dominates(v, value[back])) break;
    --count;
  }
  size_t slot = (head + count) % cap;
  seq[slot] = s;
  value[slot] = v;
  ++count;
}

void CountWindow::Push(double value) {
  const size_t cap = values_.size();
  if (size_ == cap) {
    // Remove the oldest value (inverse Welford step), then add the new one.
    double old = values_[next_];
    double n = static_cast<double>(size_);
    if (size_ == 1) {
      mean_ = 0;
      m2_ = 0;
    } else {
      double mean_without = (n * mean_ - old) / (n - 1);
      m2_ -= (old - mean_) * (old - mean_without);
      mean_ = mean_without;
    }
    --size_;
  }
  values_[next_] = value;
  next_ = (next_ + 1) % cap;
  ++size_;
  double delta = value - mean_;
  mean_ += delta / static_cast<double>(size_);
  m2_ += delta * (value - mean_);
  if (m2_ < 0) m2_ = 0;

  uint64_t seq = pushes_++;
  uint64_t oldest_live = seq + 1 >= cap ? seq + 1 - cap : 0;
  min_.Push(seq, value, oldest_live, [](double a, double b) { return a <= b; });
  max_.Push(seq, value, oldest_live, [](double a, double b) { return a >= b; });
  if (pushes_ % kRecomputeEvery == 0) Recompute();
}

void CountWindow::Recompute() {
  double sum = 0;
  for (size_t i = 0; i < size_; ++i) sum += recent(i);
  mean_ = sum / static_cast<double>(size_);
  double m2 = 0;
  for (size_t i = 0; i < size_; ++i) m2 += (recent(i) - mean_) * (recent(i) - mean_);
  m2_ = m2;
}

double CountWindow::variance() const {
  return size_ == 0 ? 0 : m2_ / static_cast<double>(size_);
}
double CountWindow::stddev() const { return std::sqrt(variance()); }
double CountWindow::min() const {
  EDGEWAY_CHECK(size_ > 0);
  return min_.front();
}
double CountWindow::max() const {
  EDGEWAY_CHECK(size_ > 0);
  return max_.front();
}
double CountWindow::recent(size_t i) const {
  EDGEWAY_CHECK(i < size_);
  const size_t cap = values_.size();
  return values_[(next_ + cap - 1 - i) % cap];
}

}  // namespace edgeway::stream
