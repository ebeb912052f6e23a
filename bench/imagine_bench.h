// `wm bench imagine`: imagined env-steps/s of the world model's batched imagination, at the
// demo size (4 layers x 128, K = 64, 10 steps of context, batch 64) or IRIS's (10 x 256, 20
// steps, batch 32), in either decoding mode and precision; with the bytes of KV cache read
// and the FLOPs per imagined step, the fractions of the memory-bandwidth and GEMM ceilings
// they reach, and the peak memory. The PyTorch twin (bench/reference/dynamics_reference.py)
// runs in the same invocation twice: as today's token-by-token fp32 imagination (the
// algorithm of IRIS's own code) and at the C++ side's settings.
#pragma once

#include <string>
#include <vector>

#include "bench/bench_record.h"
#include "dynamics/dynamics_options.h"

namespace wm::bench {

struct ImagineBenchOptions {
  int threads = 0;
  std::string size = "demo";          // demo | iris
  int64_t layers = 0, width = 0, heads = 0, context_steps = 0;  // > 0: override the size's
  int64_t kv_heads = 0;               // key/value heads (grouped-query attention); 0: as many as heads
  int64_t batch = 0;                  // trajectories; 0: the size's (demo 64, iris 32)
  int64_t horizon = 20;               // imagined steps each, from one real frame
  std::string decoding = "parallel";  // ar | parallel
  std::string precision = "fp32";     // fp32 | bf16
  std::string sampler = "inverse_cdf";  // inverse_cdf | multinomial
  std::string cache = "auto";         // auto | head_major | packed_bf16 (auto: packed for bf16 where the CPU has the kernel)
  int64_t recompute_horizon = 0;      // > 0: also time imagination without a cache for this many steps
  bool reference = true;              // run the PyTorch twin too
};

std::vector<BenchRecord> run_imagine_bench(const ImagineBenchOptions& options);

// Work of one imagination run, counted from its schedule (the passes Imagination makes,
// cache rebuilds included): what the CPU computes and reads, the rows it skips left out.
struct DreamCost {
  double flops = 0;        // matrix products and attention
  double cache_bytes = 0;  // keys and values read by attention
};
DreamCost dream_cost(const dynamics::DynamicsOptions& options, int64_t batch, int64_t context_frames, int64_t horizon,
                     int64_t cache_element_bytes);

}  // namespace wm::bench
