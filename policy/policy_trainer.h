// One optimizer step of the policy, read top to bottom: imagine B trajectories of H steps
// from real start windows, λ-returns, REINFORCE with the value as baseline and an entropy
// bonus, value regression, clip, update, figures to log. The world model and the tokenizer
// are frozen; batches, evaluation in the real environment and checkpoints are the caller's.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <optional>

#include "core/checkpoint.h"
#include "core/gradient_sync.h"
#include "core/metrics.h"
#include "core/ranks.h"
#include "dynamics/imagination.h"
#include "dynamics/world_model.h"
#include "policy/actor_critic.h"
#include "policy/imagined_rollout.h"
#include "policy/policy_inputs.h"
#include "policy/policy_options.h"

namespace wm::policy {

// The world model in the precision the policy dreams in (auto: bf16 where the device has bf16
// arithmetic): a bf16 copy, or the model itself in fp32 (Imagination switches it to eval
// mode while it dreams and back after).
dynamics::WorldModel dreaming_model(const dynamics::WorldModel& model, PolicyTrainOptions::DreamPrecision wanted, c10::Device device);

class PolicyTrainer {
 public:
  // `world_model` dreams as given (fp32, or a bf16 copy: dynamics/dream_precision.h).
  PolicyTrainer(ActorCritic policy, dynamics::WorldModel world_model, PolicyInputs inputs, PolicyTrainOptions options, c10::Device device);

  // One step from start windows: tokens [B, T, K] with their actions and mask (T = options.context).
  core::Scalars train_step(const dynamics::DynamicsBatch& starts);

  // A new world model to dream in (wm train all: the dynamics model after its latest epoch).
  void set_world_model(dynamics::WorldModel world_model);

  // Data parallelism: the update's gradients go through a GradientSync of `make` from now on
  // (one process: LocalGradients, the default).
  void set_gradient_sync(const core::GradientSyncFactory& make);
  // Data parallelism over `ranks` (collective): rank 0's policy on every rank, gradients
  // averaged at the update's boundary, the return and advantage scaling taken over every
  // rank's dreams. Each rank dreams from its own starts with its own draws (set_dream_seed).
  void share_across(const std::shared_ptr<core::Ranks>& ranks);

  // The run's seed (run.seed): the dreams' draws follow it (0 until set).
  void set_dream_seed(uint64_t seed) { dream_seed_ = seed; }

  int64_t step() const { return step_; }
  ActorCritic& policy() { return policy_; }
  PolicyInputs& inputs() { return inputs_; }
  // The last step's trajectories (for dream strips and tests). With policy_train.epochs > 1
  // their log_probs, entropies and values are the last pass's (values then [B, H], no bootstrap).
  const ImaginedRollout& last_rollout() const { return rollout_; }

  void save(core::CheckpointWriter& writer);
  void restore(const core::Checkpoint& checkpoint);

 private:
  ActorCritic policy_;
  dynamics::WorldModel world_model_;
  PolicyInputs inputs_;
  PolicyTrainOptions options_;
  c10::Device device_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<core::GradientSync> gradient_sync_ = std::make_unique<core::LocalGradients>();
  std::shared_ptr<core::Ranks> ranks_;  // none: one process
  std::optional<dynamics::Imagination> dream_;  // made at the first batch (its size fixes the cache)
  uint64_t dream_seed_ = 0;
  double return_scale_ = 0;                      // EMA of the 5th-95th percentile range of returns
  int64_t step_ = 0;
  ImaginedRollout rollout_;
};

}  // namespace wm::policy
