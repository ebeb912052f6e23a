#include "bench/gemm_bench.h"

#include <torch/torch.h>

#include <chrono>

namespace wm::bench {

namespace {

void synchronize(c10::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

GemmResult run_gemm_bench(c10::Device device, c10::ScalarType dtype, int64_t n,
                          double min_seconds, int repeats) {
  torch::NoGradGuard no_grad;
  const auto options = torch::TensorOptions().device(device).dtype(dtype);
  const torch::Tensor a = torch::randn({n, n}, options);
  const torch::Tensor b = torch::randn({n, n}, options);
  torch::Tensor c = torch::empty({n, n}, options);

  using Clock = std::chrono::steady_clock;
  // Warm-up, and a first estimate of how many products fill min_seconds.
  auto start = Clock::now();
  at::mm_out(c, a, b);
  synchronize(device);
  double one = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t iterations = std::max<int64_t>(1, static_cast<int64_t>(min_seconds / std::max(one, 1e-6)));

  GemmResult best;
  for (int r = 0; r < repeats; ++r) {
    start = Clock::now();
    for (int64_t i = 0; i < iterations; ++i) at::mm_out(c, a, b);
    synchronize(device);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double gflops = 2.0 * static_cast<double>(n) * n * n * iterations / seconds / 1e9;
    if (gflops > best.gflops) best = {gflops, iterations, seconds};
  }
  return best;
}

}  // namespace wm::bench
