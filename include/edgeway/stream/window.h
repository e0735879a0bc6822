#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgeway::stream {

// The last `capacity` values of a series, with their mean, variance, minimum and maximum kept
// up to date incrementally: Push is O(1) amortised and no query walks the window.
//
// Mean and variance use Welford's update for the value that enters and its inverse for the value
// that leaves; the running sums are recomputed from the window every few thousand pushes so
// rounding error cannot build up. Minimum and maximum use monotonic queues of slot indices into
// the window's own ring: a value leaves the window exactly when its slot is overwritten.
// Memory: 16 bytes per slot of capacity plus about 100 bytes. Not thread-safe.
class CountWindow {
 public:
  explicit CountWindow(size_t capacity);

  void Push(double value);

  size_t size() const { return size_; }
  size_t capacity() const { return values_.size(); }
  bool empty() const { return size_ == 0; }
  double mean() const { return mean_; }
  // Population variance (divides by n), as the seed's 3-sigma rule.
  double variance() const;
  double stddev() const;
  double min() const;
  double max() const;
  // The i-th most recent value; 0 is the newest. Requires i < size().
  double recent(size_t i) const;
  // Heap bytes held.
  size_t heap_bytes() const;

 private:
  void Recompute();

  // A ring of slots of values_, oldest first, whose values are monotonic: for the min or max.
  struct MonotonicQueue {
    std::vector<uint32_t> slot;
    size_t head = 0, count = 0;
    explicit MonotonicQueue(size_t capacity) : slot(capacity) {}
    uint32_t front() const { return slot[head]; }
  };
  // Adds the value just written at `slot`. `dominates(a, b)`: a newer a makes an older b useless.
  template <typename Dominates>
  void PushMonotonic(MonotonicQueue& q, uint32_t slot, Dominates dominates);

  std::vector<double> values_;  // ring buffer
  size_t next_ = 0;             // the slot the next value goes to
  size_t size_ = 0;
  uint64_t pushes_ = 0;
  double mean_ = 0;
  double m2_ = 0;  // sum of squared deviations from the mean
  MonotonicQueue min_;
  MonotonicQueue max_;
};

}  // namespace edgeway::stream
