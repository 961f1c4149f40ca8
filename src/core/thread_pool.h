#pragma once
// A fixed pool of worker threads for data-parallel loops. Kernels split their
// work with parallel_for; the calling thread takes part, so a pool of N
// threads has N-1 workers.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace strata {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  int size() const { return n_threads_; }

  // Calls fn(begin, end) on disjoint slices covering [0, n), one slice per
  // thread at most; returns when all are done. Not reentrant.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);
  // The same with slices of `grain` taken in turn from a shared counter: a
  // thread that is slowed (another process holding its core) takes fewer,
  // instead of the others waiting for its fixed share.
  void parallel_for_dynamic(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  // Calls fn(thread_index) once on every thread.
  void run_on_all(const std::function<void(int)>& fn);

  // The process-wide pool, sized from STRATA_THREADS or the core count.
  static ThreadPool& global();

 private:
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace strata
