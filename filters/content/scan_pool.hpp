// ScanPool: a few threads that run content scans of large messages, so that a
// multi-megabyte body never holds a session worker (whose other sessions would
// stall meanwhile). Bounded: at most max_queued jobs wait; beyond that the caller
// is told no, and the content filter answers 451 4.3.2 rather than queueing
// without limit.
//
// One pool per process (shared_scan_pool), sized by the first configuration that
// asks for it: its threads live as long as the process, while configurations come
// and go with reloads.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mxgate {

class ScanPool {
 public:
  ScanPool(std::size_t threads, std::size_t max_queued);
  ~ScanPool();  // drops jobs not started, waits for running ones
  ScanPool(const ScanPool&) = delete;
  ScanPool& operator=(const ScanPool&) = delete;

  // False (and `job` not kept) when max_queued jobs are waiting already.
  bool try_submit(std::function<void()> job);
  // Waits until nothing is queued or running (shutdown: before the session
  // workers stop, so every finished scan can still hand its result back).
  void quiesce();
  std::size_t threads() const { return threads_.size(); }
  std::size_t max_queued() const { return max_queued_; }

 private:
  void run();
  std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<std::function<void()>> queue_;
  std::size_t running_ = 0;
  std::size_t max_queued_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// The process's pool; created by the first call (threads 0: one per core).
std::shared_ptr<ScanPool> shared_scan_pool(std::size_t threads, std::size_t max_queued);
// The process's pool if a configuration made one (a content filter), else null.
std::shared_ptr<ScanPool> current_scan_pool();
// Quiesces the process's pool if there is one.
void quiesce_scan_pool();

}  // namespace mxgate
