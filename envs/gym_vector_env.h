// N Gymnasium environments, one Python worker process each (see gym_worker.h), stepped in
// parallel: every command is sent to all workers before any reply is read.
#pragma once

#include <memory>
#include <vector>

#include "envs/env_options.h"
#include "envs/gym_worker.h"
#include "envs/vector_env.h"

namespace wm::envs {

class GymVectorEnv : public VectorEnv {
 public:
  explicit GymVectorEnv(const EnvOptions& options);

  int64_t size() const override { return static_cast<int64_t>(workers_.size()); }
  std::string name() const override { return env_id_; }
  FrameSpec frame_spec() const override { return frame_; }
  const ActionSpace& action_space() const override { return workers_.front()->action_space(); }
  void reset(uint64_t base_seed, uint8_t* frames) override;
  void step(const std::vector<Action>& actions, uint8_t* frames, std::vector<StepResult>& results) override;

  std::vector<pid_t> worker_pids() const;

 private:
  std::string env_id_;
  FrameSpec frame_;
  std::vector<std::unique_ptr<GymWorker>> workers_;
  std::vector<uint64_t> next_seed_;
};

}  // namespace wm::envs
