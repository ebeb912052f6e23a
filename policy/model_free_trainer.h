// The baseline a world model has to beat: the same actor-critic and the same objective
// (actor_critic_loss.h), trained on the real environment's own steps instead of dreams —
// synchronous advantage actor-critic (A2C). Each update: N environments play H steps with
// the current policy (its draws are the exploration), the GRU state carried across updates
// and cut at episode ends, then one optimizer step on those N x H real steps.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <vector>

#include "core/checkpoint.h"
#include "core/gradient_sync.h"
#include "core/metrics.h"
#include "envs/vector_env.h"
#include "policy/actor_critic.h"
#include "policy/policy_inputs.h"
#include "policy/policy_options.h"

namespace wm::policy {

class ModelFreeTrainer {
 public:
  // `env` outlives the trainer; its episodes start from `seed`. options.horizon is the
  // rollout length H; options.batch_size is not used (N is the environment count).
  ModelFreeTrainer(ActorCritic policy, PolicyInputs inputs, PolicyTrainOptions options, envs::VectorEnv& env, c10::Device device, uint64_t seed);

  // Plays H steps in every environment, then one update.
  core::Scalars train_step();

  // Data parallelism: the update's gradients go through a GradientSync of `make` from now on
  // (one process: LocalGradients, the default).
  void set_gradient_sync(const core::GradientSyncFactory& make);

  int64_t step() const { return step_; }
  int64_t real_steps() const { return real_steps_; }  // environment steps taken, all environments together
  ActorCritic& policy() { return policy_; }
  PolicyInputs& inputs() { return inputs_; }

  void save(core::CheckpointWriter& writer);
  // The environments start new episodes after a restore (their state is not checkpointed).
  void restore(const core::Checkpoint& checkpoint);

 private:
  ActorCritic policy_;
  PolicyInputs inputs_;
  PolicyTrainOptions options_;
  envs::VectorEnv& env_;
  c10::Device device_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<core::GradientSync> gradient_sync_ = std::make_unique<core::LocalGradients>();
  std::vector<uint8_t> frames_;          // [N, H, W, 3]: every environment's current frame
  std::vector<envs::StepResult> results_;
  at::Tensor state_;                     // [N, 2 * hidden], detached between updates
  std::vector<double> running_returns_;  // of each environment's episode under way
  double return_scale_ = 0;
  uint64_t seed_;
  int64_t step_ = 0, real_steps_ = 0;
};

}  // namespace wm::policy
