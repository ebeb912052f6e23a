// `wm bench env`: how fast the environments step, and the driving game's reference returns.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/bench_record.h"

namespace wm::bench {

struct EnvBenchOptions {
  double min_seconds = 2.0;  // per throughput figure
  int64_t vector_envs = 16;  // environments in the vectorized driving figure
  int64_t gym_workers = 2;   // Pong workers
  int64_t return_episodes = 20;
  bool gym = true;           // include the Gymnasium bridge (needs the .venv)
};

// Driving steps/s on one thread and vectorized over all cores, Pong steps/s through the
// bridge, and expert / random returns (mean and std over `return_episodes` episodes).
std::vector<BenchRecord> run_env_bench(const EnvBenchOptions& options);

}  // namespace wm::bench
