// `wm bench dump`: end-to-end frames/s of the token-dump pipeline (decode -> resize ->
// encode -> write) on the shared Udacity recording looped into several sources, next to
// the same pipeline with a no-op encoder (decode-only) and the tokenizer encoding
// pre-decoded batches (encode-only), all measured in one invocation. ratio = end-to-end /
// the slower of the two: 1.0 means the stages overlap perfectly.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_record.h"

namespace wm::bench {

struct DumpBenchOptions {
  std::filesystem::path video;  // default: ../shared/data/udacity-sim/center.mp4
  int loops = 6;                // copies of it as separate sources (613 frames each)
  std::string tokenizer;        // checkpoint; empty: the default model, untrained (speed does not depend on weights)
  std::string device = "auto";
  int64_t batch = 0;            // 0: auto_dump_batch (16 on CPU)
  int decode_threads = 2;
  int threads = 0;              // intra-op threads for the encoder; 0: all cores
};

// Empty when the video does not exist (the caller says so).
std::vector<BenchRecord> run_dump_bench(const DumpBenchOptions& options);

}  // namespace wm::bench
