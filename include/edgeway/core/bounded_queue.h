#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace edgeway {

// What a producer does when a bounded queue is full.
enum class OverflowPolicy {
  kBlock,  // wait for room: back-pressure reaches the producer (and the broker's TCP window)
  kDrop,   // refuse the item; the caller counts it
};

// A bounded multi-producer, multi-consumer FIFO. Consumers take items in batches so that the
// lock is taken once per batch, not once per item. Thread-safe.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  // Appends `item`. With kBlock waits for room; with kDrop returns false when full.
  // Returns false once Close() has been called.
  bool Push(T item, OverflowPolicy policy) {
    std::unique_lock lock(mu_);
    if (policy == OverflowPolicy::kBlock) {
      not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    }
    if (closed_ || items_.size() >= capacity_) return false;
    items_.push_back(std::move(item));
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }

  // Moves up to `max_items` into `out` (appending). Waits up to `timeout` for the first item.
  // Returns false when the queue is closed and empty: the consumer should stop.
  bool PopBatch(std::vector<T>* out, size_t max_items, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    not_empty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return !closed_;
    size_t n = std::min(max_items, items_.size());
    for (size_t i = 0; i < n; ++i) {
      out->push_back(std::move(items_.front()));
      items_.pop_front();
    }
    lock.unlock();
    not_full_.notify_all();
    return true;
  }

  // After Close, Push fails and consumers drain what is left, then PopBatch returns false.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace edgeway
