// wm bench precision --run DIR: how far bf16 imagination is from fp32 on a trained dynamics
// model and its own held-out windows (top-1 agreement and KL per predicted token), computed
// through the KV cache the way a dream computes them.
#pragma once

#include <filesystem>
#include <vector>

#include "bench/bench_record.h"

namespace wm::tools {

std::vector<bench::BenchRecord> run_precision_bench(const std::filesystem::path& run_dir, int64_t batches, int64_t batch);

}  // namespace wm::tools
