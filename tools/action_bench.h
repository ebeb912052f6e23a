// wm bench actions --run DIR: does the world model know what the actions do? From the same
// states of the driving game, each of the 9 actions is held for H steps twice: in the real
// game (replayed from its seed and the actions that led there) and in the run's dream
// (primed with the last real frames through its tokenizer). Per action, the dream's return
// and the speed its last frame shows against reality's; over all, how well the dream ranks
// the actions of a state as reality does (the signal a policy learns from in imagination),
// and how many tokens of the first dreamed frame are the real next frame's.
#pragma once

#include <filesystem>
#include <vector>

#include "bench/bench_record.h"

namespace wm::tools {

struct ActionBenchOptions {
  std::filesystem::path run;
  std::string tokenizer, dynamics;  // checkpoints (or run folders) other than the run's newest
  int64_t starts = 128;  // real states to branch from
  int64_t horizon = 15;  // steps each action is held
  int64_t context = 4;   // real frames that prime the dream
  uint64_t seed = 0;
};

std::vector<bench::BenchRecord> run_action_bench(const ActionBenchOptions& options);

}  // namespace wm::tools
