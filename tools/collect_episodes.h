// Experience into an episode store: an agent plays `steps` steps (all environments
// together) and every episode it completes is appended to the store. Used by `wm collect`
// and by `wm train all`'s collection phase.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "dataloader/episode_store.h"

namespace wm::dataloader {
class EpisodeRecorder;
}
#include "envs/agent.h"

namespace wm::tools {

struct CollectReport {
  std::vector<double> returns;  // of the completed (stored) episodes, in completion order
  int64_t steps = 0;            // steps taken, all environments together
  double seconds = 0;
};

// Experience collected in instalments from environments that keep running in between: an
// episode still under way when one `collect` ends goes on in the next and is stored once it
// completes (wm train all collects a few hundred steps per epoch, as IRIS does, while an Atari
// episode lasts thousands). The environments start from `seed` when this is made.
class Collector {
 public:
  Collector(envs::VectorEnv& env, dataloader::EpisodeStore& store, uint64_t seed);
  ~Collector();

  // `agent` plays `steps` more steps (all environments together); it starts every slot's
  // recurrent state afresh. `on_episode(steps of this call so far, return)` is called for each
  // episode completed (and stored) in this call; the report's returns are those episodes'.
  CollectReport collect(envs::Agent& agent, int64_t steps, const std::function<void(int64_t, double)>& on_episode = {},
                        bool progress_bar = true);

 private:
  envs::VectorEnv& env_;
  std::unique_ptr<dataloader::EpisodeRecorder> recorder_;
  std::vector<uint8_t> frames_, before_;
  std::vector<envs::StepResult> results_;
};

// One instalment from freshly reset environments: episodes still running at the end are not
// stored (wm collect).
CollectReport collect_episodes(envs::VectorEnv& env, envs::Agent& agent, dataloader::EpisodeStore& store, int64_t steps, uint64_t seed,
                               const std::function<void(int64_t, double)>& on_episode = {}, bool progress_bar = true);

// Seeds that continue where earlier collections into the same store stopped.
uint64_t collection_seed(int64_t run_seed, const dataloader::EpisodeStore& store);

}  // namespace wm::tools
