// A small fixed pool for data-parallel loops outside torch ops (stepping environments,
// decoding videos). at::parallel_for is not usable from our code: its OpenMP body is a
// header pragma that only runs in parallel when the caller is compiled with -fopenmp, which
// would pull a second OpenMP runtime next to the one bundled in the torch wheel.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace wm::core {

class ThreadPool {
 public:
  // `threads` workers in all, the calling thread counted: 1 runs everything inline.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on contiguous chunks covering [0, n), one chunk per thread, and
  // returns when all are done. The first exception thrown is rethrown here.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);
  void run_chunk(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, finished_;
  const std::function<void(int64_t, int64_t)>* task_ = nullptr;
  int64_t n_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace wm::core
