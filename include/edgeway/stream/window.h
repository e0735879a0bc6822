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
// rounding error cannot build up. Minimum and maximum use monotonic queues.
// Memory: about 3 * capacity doubles. Not thread-safe.
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

 private:
  void Recompute();

  // A ring of (sequence, value) kept monotonic, for the window's min or max.
  struct MonotonicRing {
    std::vector<uint64_t> seq;
    std::vector<double> value;
    size_t head = 0, count = 0;
    explicit MonotonicRing(size_t capacity) : seq(capacity), value(capacity) {}
    // `dominates(a, b)`: a new value a makes an older b useless.
    template <typename Dominates>
    void Push(uint64_t s, double v, uint64_t oldest_live, Dominates dominates);
    double front() const { return value[head]; }
  };

  std::vector<double> values_;  // ring buffer
  size_t next_ = 0;             // where the next value goes
  size_t size_ = 0;
  uint64_t pushes_ = 0;
  double mean_ = 0;
  double m2_ = 0;  // sum of squared deviations from the mean
  MonotonicRing min_;
  MonotonicRing max_;
};

}  // namespace edgeway::stream
