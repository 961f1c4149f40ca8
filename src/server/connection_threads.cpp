#include "server/connection_threads.h"

#include <algorithm>

namespace strata {

ConnectionThreads::ConnectionThreads(size_t max_threads, std::chrono::seconds idle_exit)
    : max_threads_(std::max<size_t>(max_threads, 1)), idle_exit_(idle_exit) {}

ConnectionThreads::~ConnectionThreads() { shutdown(); }

bool ConnectionThreads::enqueue(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (shutdown_) return false;
    jobs_.push_back(std::move(job));
    // Every queued job needs a waiting thread of its own.
    if (jobs_.size() > waiting_ && threads_.size() - exited_.size() < max_threads_) {
      join_exited();
      threads_.emplace_back([this] { work(); });
    }
  }
  wake_.notify_one();
  return true;
}

void ConnectionThreads::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    waiting_++;
    const bool woken = wake_.wait_for(lock, idle_exit_, [&] { return !jobs_.empty() || shutdown_; });
    waiting_--;
    if (!woken || jobs_.empty()) break;  // idle too long, or shutting down with nothing left
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
  exited_.push_back(std::this_thread::get_id());
}

void ConnectionThreads::join_exited() {
  for (std::thread::id id : exited_) {
    auto it = std::find_if(threads_.begin(), threads_.end(), [id](const std::thread& t) { return t.get_id() == id; });
    it->join();  // it has left work(): returns at once
    threads_.erase(it);
  }
  exited_.clear();
}

void ConnectionThreads::shutdown() {
  std::list<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    shutdown_ = true;
    threads.swap(threads_);
    exited_.clear();
  }
  wake_.notify_all();
  for (std::thread& t : threads) t.join();
}

}  // namespace strata
