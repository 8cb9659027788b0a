#include "base/work_pool.hpp"

#include <spdlog/spdlog.h>

namespace mxgate {

WorkPool::WorkPool(std::size_t threads, std::size_t max_queued) : max_queued_(max_queued) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkPool::~WorkPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

bool WorkPool::try_submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void WorkPool::quiesce() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

void WorkPool::run() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    job();  // jobs catch their own exceptions (on_pool in work_pool_await.hpp)
    job = nullptr;
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) idle_.notify_all();
  }
}

namespace {
std::mutex g_pool_mu;
std::shared_ptr<WorkPool> g_pool;
}  // namespace

std::shared_ptr<WorkPool> process_work_pool(std::size_t threads, std::size_t max_queued) {
  std::lock_guard lock(g_pool_mu);
  if (!g_pool) {
    g_pool = std::make_shared<WorkPool>(threads, max_queued);
  } else if ((threads != 0 && threads != g_pool->threads()) || max_queued != g_pool->max_queued()) {
    spdlog::warn("work_pool.threads and work_pool.queue change only on restart (running: {} threads, queue {})",
                 g_pool->threads(), g_pool->max_queued());
  }
  return g_pool;
}

std::shared_ptr<WorkPool> current_work_pool() {
  std::lock_guard lock(g_pool_mu);
  return g_pool;
}

void quiesce_work_pool() {
  std::shared_ptr<WorkPool> p;
  {
    std::lock_guard lock(g_pool_mu);
    p = g_pool;
  }
  if (p) p->quiesce();
}

}  // namespace mxgate
