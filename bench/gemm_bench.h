// `wm bench gemm`: the matrix-product ceiling (GFLOP/s) of a device and dtype, which later
// efficiency figures divide by.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

namespace wm::bench {

struct GemmResult {
  double gflops = 0;      // best of the timed repeats
  int64_t iterations = 0; // products per repeat
  double seconds = 0;     // duration of the best repeat
};

// Times C = A @ B for n x n matrices of `dtype` on `device`: one warm-up, then repeats of
// at least `min_seconds` each; reports the best repeat (2 n^3 flops per product).
GemmResult run_gemm_bench(c10::Device device, c10::ScalarType dtype, int64_t n,
                          double min_seconds, int repeats = 3);

}  // namespace wm::bench
