// Experience into an episode store: an agent plays `steps` steps (all environments
// together) and every episode it completes is appended to the store. Used by `wm collect`
// and by `wm train all`'s collection phase.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "dataloader/episode_store.h"
#include "envs/agent.h"

namespace wm::tools {

struct CollectReport {
  std::vector<double> returns;  // of the completed (stored) episodes, in completion order
  int64_t steps = 0;            // steps taken, all environments together
  double seconds = 0;
};

// `on_episode(steps so far, return)` is called for each completed episode. Episodes still
// running at the end are not stored.
CollectReport collect_episodes(envs::VectorEnv& env, envs::Agent& agent, dataloader::EpisodeStore& store, int64_t steps, uint64_t seed,
                               const std::function<void(int64_t, double)>& on_episode = {}, bool progress_bar = true);

// Seeds that continue where earlier collections into the same store stopped.
uint64_t collection_seed(int64_t run_seed, const dataloader::EpisodeStore& store);

}  // namespace wm::tools
