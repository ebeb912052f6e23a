// `wm bench decode`: frames/s for decoding a video and resizing it to 64x64 RGB, with one
// and two decoder threads, and with two files decoded at once.
#pragma once

#include <filesystem>
#include <vector>

#include "bench/bench_record.h"

namespace wm::bench {

struct DecodeBenchOptions {
  std::filesystem::path video;  // default: ../shared/data/udacity-sim/center.mp4
  double min_seconds = 2.0;
  int size = 64;
};

// Empty when the video does not exist (the caller says so).
std::vector<BenchRecord> run_decode_bench(const DecodeBenchOptions& options);

std::filesystem::path default_bench_video();

}  // namespace wm::bench
