#include "edgeway/store/batch_writer.h"

#include "edgeway/core/strings.h"
#include "spdlog/spdlog.h"

namespace edgeway::store {

BatchWriter::BatchWriter(std::unique_ptr<Store> store, BatchWriterOptions options,
                         CommitObserver observer, ExpiryObserver expiry_observer)
    : store_(std::move(store)),
      options_(options),
      observer_(std::move(observer)),
      expiry_observer_(std::move(expiry_observer)),
      queue_(options.queue_batches) {
  thread_ = std::thread([this] { Run(); });
}

BatchWriter::~BatchWriter() { Stop(); }

bool BatchWriter::Add(ResultBatch batch) {
  if (batch.empty()) return true;
  return queue_.Push(std::move(batch), OverflowPolicy::kBlock);
}

void BatchWriter::Stop() {
  if (stopped_.exchange(true)) return;
  queue_.Close();
  if (thread_.joinable()) thread_.join();
}

void BatchWriter::BetweenCommits(absl::FunctionRef<void()> fn) {
  std::lock_guard lock(commit_mu_);
  fn();
}

void BatchWriter::Commit(ResultBatch* pending) {
  if (pending->empty()) return;
  std::lock_guard lock(commit_mu_);
  absl::StatusOr<WriteStats> stats;
  for (int attempt = 0; attempt < 3; ++attempt) {
    stats = store_->Write(*pending);
    if (stats.ok()) break;
    spdlog::error("store: {} (attempt {} of 3)", stats.status().message(), attempt + 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
  }
  if (stats.ok()) {
    readings_stored_.fetch_add(stats->readings_inserted, std::memory_order_relaxed);
    readings_duplicate_.fetch_add(stats->readings_duplicate, std::memory_order_relaxed);
    insights_stored_.fetch_add(stats->insights_inserted, std::memory_order_relaxed);
    window_results_stored_.fetch_add(stats->window_results_written, std::memory_order_relaxed);
    late_readings_stored_.fetch_add(stats->late_readings_inserted, std::memory_order_relaxed);
    outbox_enqueued_.fetch_add(stats->outbox_enqueued, std::memory_order_relaxed);
    outbox_dropped_.fetch_add(stats->outbox_dropped, std::memory_order_relaxed);
    analytics_states_saved_.fetch_add(stats->analytics_states_saved, std::memory_order_relaxed);
    transactions_.fetch_add(1, std::memory_order_relaxed);
    if (observer_) observer_(*pending);
  } else {
    rows_failed_.fetch_add(static_cast<int64_t>(pending->rows()), std::memory_order_relaxed);
  }
  pending->readings.clear();
  pending->insights.clear();
  pending->windows.clear();
  pending->late.clear();
  pending->outbox.clear();
  pending->analytics_state.clear();
  pending->forgotten.clear();
}

void BatchWriter::Run() {
  std::vector<ResultBatch> batches;
  ResultBatch pending;
  int64_t next_retention = options_.clock->NowNs();
  int64_t expiring = 0;        // rows the retention pass under way has deleted
  int64_t oldest_pending = 0;  // monotonic time the oldest uncommitted row arrived
  const int64_t flush_ns = options_.flush_interval_ms * kNsPerMs;
  const int64_t group_ns = options_.group_commit_ms * kNsPerMs;
  int64_t last_commit = 0;
  while (true) {
    batches.clear();
    const bool waiting = !pending.empty();
    bool open = queue_.PopBatch(
        &batches, 64,
        std::chrono::milliseconds(waiting ? std::max<int64_t>(options_.group_commit_ms, 1)
                                          : options_.flush_interval_ms));
    for (ResultBatch& b : batches) {
      if (pending.empty()) oldest_pending = MonotonicNs();
      std::move(b.readings.begin(), b.readings.end(), std::back_inserter(pending.readings));
      std::move(b.insights.begin(), b.insights.end(), std::back_inserter(pending.insights));
      std::move(b.windows.begin(), b.windows.end(), std::back_inserter(pending.windows));
      std::move(b.late.begin(), b.late.end(), std::back_inserter(pending.late));
      std::move(b.outbox.begin(), b.outbox.end(), std::back_inserter(pending.outbox));
      std::move(b.analytics_state.begin(), b.analytics_state.end(),
                std::back_inserter(pending.analytics_state));
      std::move(b.forgotten.begin(), b.forgotten.end(), std::back_inserter(pending.forgotten));
    }
    // Commit when the transaction is big enough, when its oldest row has waited the flush
    // interval, or when nothing more is waiting and the last commit is a group-commit interval
    // old (low latency at low rates, large transactions under load).
    const bool full = pending.rows() >= options_.max_rows_per_transaction;
    const int64_t now = MonotonicNs();
    const bool due = !pending.empty() && (now - oldest_pending >= flush_ns ||
                                          (queue_.size() == 0 && now - last_commit >= group_ns));
    if (full || due || !open) {
      Commit(&pending);
      last_commit = MonotonicNs();
    }
    if (options_.retention_ns > 0 && options_.clock->NowNs() >= next_retention) {
      const int64_t wall_now = options_.clock->NowNs();
      std::lock_guard lock(commit_mu_);
      auto expired =
          store_->DeleteOlderThan(wall_now - options_.retention_ns, options_.retention_step_rows);
      next_retention = wall_now + options_.retention_check_ns;
      if (expired.ok()) {
        rows_expired_.fetch_add(expired->rows, std::memory_order_relaxed);
        expiring += expired->rows;
        if (expired->rows > 0) {
          next_retention = wall_now;  // the next step after the next commit
          if (expiry_observer_) expiry_observer_(*expired);
        } else if (expiring > 0) {
          spdlog::info("store: retention removed {} rows", expiring);
          expiring = 0;
        }
      } else {
        spdlog::error("store: retention: {}", expired.status().message());
      }
    }
    if (!open) break;
  }
}

}  // namespace edgeway::store
