#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "edgeway/core/bounded_queue.h"
#include "edgeway/core/clock.h"
#include "edgeway/store/store.h"

namespace edgeway::store {

struct BatchWriterOptions {
  size_t max_rows_per_transaction = 5000;
  int64_t flush_interval_ms = 100;  // longest a row waits for its transaction
  // Group commit: when nothing more is waiting, commit at once unless the last commit was less
  // than this long ago. 0 (the default) commits whenever the queue runs dry: at low rates a
  // reading is stored within a millisecond, and under load the queue is rarely dry, so
  // transactions grow by themselves. A positive value bounds commits to 1000/group_commit_ms
  // per second, which matters with synchronous_full (an fsync per commit).
  int64_t group_commit_ms = 0;
  size_t queue_batches = 1024;  // batches waiting; when full, Add blocks (back-pressure)
  int64_t retention_ns = 7LL * 24 * 3600 * kNsPerSecond;  // 0 keeps everything
  int64_t retention_check_ns = 60 * kNsPerSecond;
  // Rows of each table deleted between two commits while retention catches up: a backlog (a
  // lowered retention, a long time off) is deleted in steps, not in one transaction that holds
  // the writer, and back-pressure the broker, for minutes. About a second for a fleet of
  // 30,000 keys.
  int64_t retention_step_rows = 100000;
  Clock* clock = Clock::Real();
};

// Called on the writer thread after each commit with what it stored.
using CommitObserver = std::function<void(const ResultBatch& committed)>;
// Called on the writer thread after each retention step that deleted rows, with what it deleted.
using ExpiryObserver = std::function<void(const Expired& expired)>;

// Owns a Store and writes to it from one thread, grouping what producers add into large
// transactions (one fsync per group, not per reading). Add is thread-safe.
class BatchWriter {
 public:
  BatchWriter(std::unique_ptr<Store> store, BatchWriterOptions options,
              CommitObserver observer = nullptr, ExpiryObserver expiry_observer = nullptr);
  ~BatchWriter();

  // Queues rows for the next transaction; blocks while the queue is full. False after Stop.
  bool Add(ResultBatch batch);

  // Writes everything queued, then stops the thread. Idempotent.
  void Stop();

  // Runs `fn` between two commits: every commit or retention step, and the observer's call for
  // it, is either wholly before `fn` or wholly after it (a reader's snapshot that no commit
  // straddles).
  void BetweenCommits(absl::FunctionRef<void()> fn);

  int64_t readings_stored() const { return readings_stored_.load(std::memory_order_relaxed); }
  int64_t readings_duplicate() const { return readings_duplicate_.load(std::memory_order_relaxed); }
  int64_t insights_stored() const { return insights_stored_.load(std::memory_order_relaxed); }
  int64_t window_results_stored() const {
    return window_results_stored_.load(std::memory_order_relaxed);
  }
  int64_t late_readings_stored() const {
    return late_readings_stored_.load(std::memory_order_relaxed);
  }
  int64_t outbox_enqueued() const { return outbox_enqueued_.load(std::memory_order_relaxed); }
  int64_t outbox_dropped() const { return outbox_dropped_.load(std::memory_order_relaxed); }
  int64_t analytics_states_saved() const {
    return analytics_states_saved_.load(std::memory_order_relaxed);
  }
  int64_t rows_failed() const { return rows_failed_.load(std::memory_order_relaxed); }
  int64_t rows_expired() const { return rows_expired_.load(std::memory_order_relaxed); }
  int64_t transactions() const { return transactions_.load(std::memory_order_relaxed); }
  size_t queued_batches() const { return queue_.size(); }

 private:
  void Run();
  void Commit(ResultBatch* pending);

  std::unique_ptr<Store> store_;
  BatchWriterOptions options_;
  CommitObserver observer_;
  ExpiryObserver expiry_observer_;
  std::mutex commit_mu_;  // held over a commit or a retention step, and its observer's call
  BoundedQueue<ResultBatch> queue_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> readings_stored_{0};
  std::atomic<int64_t> readings_duplicate_{0};
  std::atomic<int64_t> insights_stored_{0};
  std::atomic<int64_t> window_results_stored_{0};
  std::atomic<int64_t> late_readings_stored_{0};
  std::atomic<int64_t> outbox_enqueued_{0};
  std::atomic<int64_t> outbox_dropped_{0};
  std::atomic<int64_t> analytics_states_saved_{0};
  std::atomic<int64_t> rows_failed_{0};
  std::atomic<int64_t> rows_expired_{0};
  std::atomic<int64_t> transactions_{0};
};

}  // namespace edgeway::store
