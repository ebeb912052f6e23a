// wm bench play --run DIR: how fast `wm play` dreams, end to end as the page sees it (an action
// POSTed over loopback HTTP to the real server, the PNG of the next frame back), and where a
// frame's time goes on the server (imagine, decode, encode).
#pragma once

#include <filesystem>
#include <vector>

#include "bench/bench_record.h"

namespace wm::tools {

struct PlayBenchOptions {
  std::filesystem::path run;
  std::string from = "episodes";
  int64_t frames = 60;  // timed frames, after a restart
  uint64_t seed = 0;
  std::string device = "auto";
};

std::vector<bench::BenchRecord> run_play_bench(const PlayBenchOptions& options);

}  // namespace wm::tools
