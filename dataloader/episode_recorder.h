// Turns the step stream of a vector environment into whole episodes: one growing buffer per
// environment slot, handed to the store when that slot's episode ends.
#pragma once

#include <cstdint>
#include <vector>

#include "dataloader/episode_store.h"
#include "envs/vector_env.h"

namespace wm::dataloader {

class EpisodeRecorder {
 public:
  EpisodeRecorder(EpisodeStore& store, const envs::VectorEnv& env);

  // Records, for every slot i, the frame it saw (frames[i] before the step), the action,
  // and the result. Completed episodes are appended to the store; returns how many.
  int64_t record(const uint8_t* frames_before, const std::vector<envs::Action>& actions,
                 const std::vector<envs::StepResult>& results);
  // Returns of the episodes completed so far, in completion order.
  const std::vector<double>& returns() const { return returns_; }

 private:
  struct Buffer {
    std::vector<uint8_t> frames;
    std::vector<int64_t> discrete_actions;
    std::vector<float> continuous_actions;
    std::vector<float> rewards;
    std::vector<uint8_t> dones;
  };
  void flush(Buffer& buffer);

  EpisodeStore& store_;
  envs::FrameSpec frame_spec_;
  envs::ActionSpace action_space_;
  std::vector<Buffer> buffers_;
  std::vector<double> returns_;
};

}  // namespace wm::dataloader
