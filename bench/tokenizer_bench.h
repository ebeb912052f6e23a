// `wm bench tokenizer`: training and encoding frames/s of the C++ tokenizer against the same
// model in PyTorch (bench/reference/tokenizer_reference.py), measured in the same run with
// the same batch, threads and torch.
#pragma once

#include <string>
#include <vector>

#include "bench/bench_record.h"

namespace wm::bench {

struct TokenizerBenchOptions {
  int64_t batch = 32;
  int threads = 0;         // 0: all cores
  double seconds = 5.0;    // per figure and implementation
  bool reference = true;   // also run the PyTorch peer
  std::string norm_kernel = "best";  // fused GroupNorm+SiLU build, or "none"
  // bf16: autocast training and encoding (fp32 master weights and AdamW state), against fp32
  // in the same run (speedup_over_fp32) and the PyTorch peer autocast the same way.
  std::string precision = "fp32";  // fp32 | bf16
};

std::vector<BenchRecord> run_tokenizer_bench(const TokenizerBenchOptions& options);

}  // namespace wm::bench
