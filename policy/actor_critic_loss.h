// The actor-critic objective over a batch of trajectories, wherever they were lived: in the
// world model's dreams (policy_trainer.h) or in the real environment (model_free_trainer.h).
// λ-returns bootstrapped by the frozen values, REINFORCE with the value as baseline and an
// entropy bonus, value regression — every step weighted by the chance it was reached.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "core/metrics.h"
#include "policy/policy_options.h"

namespace wm::policy {

struct Trajectory {
  at::Tensor actions;    // int64 [B, H] or float [B, H, A]
  at::Tensor log_probs;  // [B, H], with gradients
  at::Tensor entropies;  // [B, H], with gradients
  at::Tensor values;     // [B, H + 1], with gradients: V of every frame, the last one included
  at::Tensor rewards;    // [B, H]
  at::Tensor continues;  // [B, H]: the chance the episode goes on after step t
  at::Tensor alive;      // [B, H]: the chance no earlier step ended the episode (the loss weight)
};

// A rollout's per-step tensors ([B] each, actions [B] or [B, A]) as they are lived, stacked
// along time at the end; `values` gets H + 1 entries, the bootstrap last.
struct TrajectorySteps {
  std::vector<at::Tensor> actions, log_probs, entropies, values, rewards, continues;

  // Every field but `alive`, which depends on where the steps were lived.
  Trajectory stack() const;
};

struct ActorCriticLoss {
  at::Tensor total;     // scalar, to backpropagate
  core::Scalars scalars;  // policy/loss, actor_loss, value_loss, lambda_return, entropy, value_error, advantage_scale
};

// `return_scale`: the running 5th-95th percentile range of returns that normalize_returns
// divides advantages by (DreamerV3); updated here, kept by the caller (it is checkpointed).
ActorCriticLoss actor_critic_loss(const Trajectory& t, const PolicyTrainOptions& options, double& return_scale);

}  // namespace wm::policy
