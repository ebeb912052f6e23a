#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/thread_pool.h"

namespace wm::core {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnceOnSeveralThreads) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  for (int64_t n : {0, 1, 2, 7, 100}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::mutex mutex;
    std::set<std::thread::id> ids;
    pool.parallel_for(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[i]++;
      std::lock_guard<std::mutex> lock(mutex);
      ids.insert(std::this_thread::get_id());
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n " << n << " i " << i;
    if (n >= 3) {
      EXPECT_EQ(ids.size(), 3u) << n;
    }
  }
}

TEST(ThreadPool, AnExceptionInAnyChunkReachesTheCaller) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(10, [](int64_t begin, int64_t) {
    if (begin > 0) throw std::runtime_error("second chunk failed");
  }), std::runtime_error);
  int64_t sum = 0;  // the pool still works afterwards
  std::mutex mutex;
  pool.parallel_for(10, [&](int64_t begin, int64_t end) {
    std::lock_guard<std::mutex> lock(mutex);
    for (int64_t i = begin; i < end; ++i) sum += i;
  });
  EXPECT_EQ(sum, 45);
}

}  // namespace
}  // namespace wm::core
