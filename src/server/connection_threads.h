#pragma once
// cpp-httplib's task queue for strata: one thread per connection, started
// on demand up to a limit, each ending after a few seconds without work.
// httplib's own ThreadPool counts a thread as idle until it wakes, so a
// burst of connections queues behind busy threads without starting new
// ones: concurrent requests then wait for whole generations to end.
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace strata {

class ConnectionThreads final : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(size_t max_threads, std::chrono::seconds idle_exit = std::chrono::seconds(3));
  ~ConnectionThreads() override;

  bool enqueue(std::function<void()> job) override;
  void shutdown() override;  // runs the queued jobs, then joins every thread

 private:
  void work();
  void join_exited();  // with mutex_ held

  const size_t max_threads_;
  const std::chrono::seconds idle_exit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::list<std::thread> threads_;
  std::list<std::thread::id> exited_;  // threads that ended, to join
  size_t waiting_ = 0;                 // threads waiting for a job
  bool shutdown_ = false;
};

}  // namespace strata
