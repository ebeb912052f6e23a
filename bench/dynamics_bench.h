// `wm bench dynamics`: training tokens/s of the world model at IRIS's size (10 layers, width
// 256, 4 heads, 20 steps of 64 + 1 tokens) and a small one, with the efficiency against the
// `wm bench gemm` ceiling, C++ against the same model in PyTorch
// (bench/reference/dynamics_reference.py), same torch, batch and threads, in one run.
// (`wm bench imagine` is bench/imagine_bench.h.)
#pragma once

#include <string>
#include <vector>

#include "bench/bench_record.h"

namespace wm::bench {

struct DynamicsBenchOptions {
  int threads = 0;           // intra-op threads; 0: all cores
  int64_t train_steps = 3;   // timed optimizer steps per size and implementation (after one warm-up)
  bool reference = true;     // also run the PyTorch peer
  bool small_only = false;   // leave out the IRIS-size model (quick runs)
  // bf16: autocast training (fp32 master weights and AdamW state), against fp32 in the same
  // run (speedup_over_fp32) and the PyTorch peer autocast the same way.
  std::string precision = "fp32";  // fp32 | bf16
};

std::vector<BenchRecord> run_dynamics_bench(const DynamicsBenchOptions& options);


}  // namespace wm::bench
