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
void CountWindow::PushMonotonic(MonotonicQueue& q, uint32_t slot, Dominates dominates) {
  const size_t cap = q.slot.size();
  const double v = values_[slot];
  // Drop from the back what the new value dominates.
  while (q.count > 0) {
    size_t back = (q.head + q.count - 1) % cap;
    if (!dominates(v, values_[q.slot[back]])) break;
    --q.count;
  }
  q.slot[(q.head + q.count) % cap] = slot;
  ++q.count;
}

void CountWindow::Push(double value) {
  const size_t cap = values_.size();
  const uint32_t slot = static_cast<uint32_t>(next_);
  if (size_ == cap) {
    // The oldest value leaves: its slot is the one about to be overwritten. It can only be at the
    // front of a monotonic queue, since the queues are in age order.
    for (MonotonicQueue* q : {&min_, &max_}) {
      if (q->count > 0 && q->front() == slot) {
        q->head = (q->head + 1) % cap;
        --q->count;
      }
    }
    // Inverse Welford step, then the new value is added below.
    double old = values_[slot];
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
  values_[slot] = value;
  next_ = (next_ + 1) % cap;
  ++size_;
  double delta = value - mean_;
  mean_ += delta / static_cast<double>(size_);
  m2_ += delta * (value - mean_);
  if (m2_ < 0) m2_ = 0;
  PushMonotonic(min_, slot, [](double a, double b) { return a <= b; });
  PushMonotonic(max_, slot, [](double a, double b) { return a >= b; });
  if (++pushes_ % kRecomputeEvery == 0) Recompute();
}

void CountWindow::Recompute() {
  double sum = 0;
  for (size_t i = 0; i < size_; ++i) sum += recent(i);
  mean_ = sum / static_cast<double>(size_);
  double m2 = 0;
  for (size_t i = 0; i < size_; ++i) m2 += (recent(i) - mean_) * (recent(i) - mean_);
  m2_ = m2;
}

double CountWindow::variance() const { return size_ == 0 ? 0 : m2_ / static_cast<double>(size_); }
double CountWindow::stddev() const { return std::sqrt(variance()); }
double CountWindow::min() const {
  EDGEWAY_CHECK(size_ > 0);
  return values_[min_.front()];
}
double CountWindow::max() const {
  EDGEWAY_CHECK(size_ > 0);
  return values_[max_.front()];
}
double CountWindow::recent(size_t i) const {
  EDGEWAY_CHECK(i < size_);
  const size_t cap = values_.size();
  return values_[(next_ + cap - 1 - i) % cap];
}
size_t CountWindow::heap_bytes() const {
  return values_.capacity() * sizeof(double) +
         (min_.slot.capacity() + max_.slot.capacity()) * sizeof(uint32_t);
}

}  // namespace edgeway::stream
