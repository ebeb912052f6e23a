// The actor-critic objective over a batch of trajectories, wherever they were lived: in the
// world model's dreams (policy_trainer.h) or in the real environment (model_free_trainer.h).
// λ-returns bootstrapped by the frozen values, REINFORCE with the value as baseline and an
// entropy bonus, value regression — every step weighted by the chance it was reached.
// With policy_train.epochs > 1 the same trajectories are learnt from again (PPO, Schulman et
// al. 2017): each later pass re-lives them with the updated weights, and the actor's term
// becomes the clipped probability ratio against the policy that lived them.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/optim/optimizer.h>

#include <vector>

#include "core/gradient_sync.h"
#include "core/metrics.h"
#include "core/ranks.h"
#include "policy/actor_critic.h"
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
  // What a later pass needs to re-live the steps (relive()):
  std::vector<at::Tensor> inputs;  // H policy inputs [B, C, h, w], as the policy read them
  at::Tensor start_state;          // [B, 2 * hidden]: the GRU state before step 0
  at::Tensor state_resets;         // [B, H]: multiplies the state after step t (0: a real episode ended); undefined: none
};

// A rollout's per-step tensors ([B] each, actions [B] or [B, A]) as they are lived, stacked
// along time at the end; `values` gets H + 1 entries, the bootstrap last.
struct TrajectorySteps {
  std::vector<at::Tensor> actions, log_probs, entropies, values, rewards, continues, inputs;

  // Every field but `alive`, `start_state` and `state_resets`, which depend on where the
  // steps were lived.
  Trajectory stack() const;
};

struct ActorCriticLoss {
  at::Tensor total;     // scalar, to backpropagate
  core::Scalars scalars;  // policy/loss, actor_loss, value_loss, lambda_return, entropy, value_error, advantage_scale
};

// What every pass over a batch learns towards, fixed when it was lived.
struct ActorCriticTargets {
  at::Tensor returns;         // [B, H]: λ-returns
  at::Tensor advantages;      // [B, H]: returns - values, scaled as the options say
  at::Tensor old_log_probs;   // [B, H]: of the policy that lived the steps
  double scale = 1.0;         // what the advantages were divided by
  // What the loss's sums over steps divide by: the job's alive steps over its ranks (one
  // process: its own), so that averaging the ranks' gradients gives one process's gradient of
  // the whole batch even when the ranks' dreams end at different steps.
  double alive_steps_per_rank = 1.0;
};

// `return_scale`: the running 5th-95th percentile range of returns that normalize_returns
// divides advantages by (DreamerV3); updated here, kept by the caller (it is checkpointed).
// `ranks` (data parallelism): the percentiles and the advantages' mean and spread are taken over
// every rank's batch, so return_scale and the scaling stay the same on every rank.
ActorCriticTargets actor_critic_targets(const Trajectory& t, const PolicyTrainOptions& options, double& return_scale,
                                        core::Ranks* ranks = nullptr);

// The loss of one pass: t's log_probs, entropies and values are this pass's (with gradients);
// `policy_options` says in which scale the critic regresses (symlog_value).
ActorCriticLoss actor_critic_loss(const Trajectory& t, const ActorCriticTargets& targets, const PolicyTrainOptions& options,
                                  const PolicyOptions& policy_options);

// Re-lives t's steps with the policy's current weights: the same inputs and actions, the GRU
// from the same start state; replaces log_probs, entropies and values (now [B, H]).
void relive(ActorCritic& policy, Trajectory& t);

// All of an update: the targets, then policy_train.epochs passes of zero-grad -> backward ->
// gradient boundary (`sync`: the mean over ranks under data parallelism) -> clip -> step. Returns the first pass's scalars and the gradient norms (policy/grad_norm,
// policy/actor_grad_norm, policy/critic_grad_norm) before clipping, with
// policy/clip_fraction from the last pass (the share of steps whose ratio left the clip range).
core::Scalars update_actor_critic(ActorCritic& policy, torch::optim::Optimizer& optimizer, core::GradientSync& sync, Trajectory& t,
                                  const PolicyTrainOptions& options, double& return_scale, core::Ranks* ranks = nullptr);

}  // namespace wm::policy
