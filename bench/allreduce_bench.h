// `wm bench allreduce`: data-parallel training of the world model on 1 and 2 ranks (real
// processes started by the wmrun launcher, Gloo over loopback on a CPU), in one run: training
// tokens/s of the job against one rank, the step with bucketed all-reduces started from
// gradient hooks against the naive one (one blocking all-reduce per parameter after backward),
// and the share of communication hidden behind backward: 1 - (time the step still waits for
// the buckets after backward, less the time it waits for the slower rank's backward) / (time
// the same all-reduces take alone).
#pragma once

#include <string>
#include <vector>

#include "bench/bench_record.h"

namespace wm::bench {

struct AllreduceBenchOptions {
  std::vector<int> ranks = {1, 2};  // job sizes to run, each a launch of its own
  int64_t steps = 5;                // timed optimizer steps per variant (after one warm-up)
  int64_t batch = 8;                // windows per rank and step
  double bucket_mb = 25;
  bool iris = false;                // IRIS's model size (10 x 256, 20 steps of 64 tokens) instead of the demo's
  double timeout_s = 300;           // of the workers' process group
  // cpu (Gloo), or cuda (NCCL, rank r on cuda:<local rank>; a one-rank job then also joins a
  // group of one, so that its bucketed and naive steps go through NCCL too); auto: cuda when
  // one is visible.
  std::string device = "cpu";
  std::string precision = "fp32";   // fp32 | bf16 (autocast)
};

// Launches the workers (this program with `bench allreduce --worker <file>`) and collects rank
// 0's figures from each job size.
std::vector<BenchRecord> run_allreduce_bench(const AllreduceBenchOptions& options);

// What one worker does under the launcher; rank 0 writes its figures (JSON) to `out`.
void run_allreduce_worker(const AllreduceBenchOptions& options, const std::string& out);

}  // namespace wm::bench
