#include "bench/memory_bench.h"

#include <torch/torch.h>

#include <chrono>

namespace wm::bench {

MemoryBandwidth run_memory_bench(int64_t bytes, double min_seconds) {
  torch::NoGradGuard no_grad;
  const torch::Tensor buffer = torch::rand({std::max<int64_t>(1, bytes / 4)}, torch::kFloat32);
  torch::Tensor sum = torch::empty({}, torch::kFloat32);
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  at::sum_out(sum, buffer);  // warm-up, and how many reads fill min_seconds
  const double one = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t iterations = std::max<int64_t>(1, static_cast<int64_t>(min_seconds / std::max(one, 1e-6)));
  MemoryBandwidth best;
  best.bytes = buffer.numel() * 4;
  for (int repeat = 0; repeat < 3; ++repeat) {
    start = Clock::now();
    for (int64_t i = 0; i < iterations; ++i) at::sum_out(sum, buffer);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best.read_gb_per_s = std::max(best.read_gb_per_s, static_cast<double>(best.bytes * iterations) / seconds / 1e9);
  }
  return best;
}

}  // namespace wm::bench
