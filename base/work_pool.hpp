// WorkPool: the process's few threads for work that must not hold a session worker
// (whose other sessions would stall meanwhile): content scans and MIME parses of
// large messages, and quarantine stores, which write and fsync. Bounded: at most
// max_queued jobs wait; beyond that the caller is told no and answers 451 4.3.2
// rather than queueing without limit.
//
// One pool per process (process_work_pool), sized by config (work_pool.threads,
// work_pool.queue) the first time a configuration is loaded: its threads live as
// long as the process, while configurations come and go with reloads.
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

class WorkPool {
 public:
  WorkPool(std::size_t threads, std::size_t max_queued);
  ~WorkPool();  // drops jobs not started, waits for running ones
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

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

// The process's pool; created by the first call (threads 0: one per core). A later
// call with other sizes logs that they take effect only on restart.
std::shared_ptr<WorkPool> process_work_pool(std::size_t threads, std::size_t max_queued);
// The process's pool if a configuration made one, else null (unit tests).
std::shared_ptr<WorkPool> current_work_pool();
// Quiesces the process's pool if there is one.
void quiesce_work_pool();

}  // namespace mxgate
