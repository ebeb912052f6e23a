// A batch of trajectories the policy lives inside the world model: real context frames
// burn in the policy's GRU and prime the dream, then H imagined steps, each the policy's
// action on the current imagined frame and the world model's answer (next frame, reward,
// termination). The policy's side keeps its gradients; the world model's has none.
#pragma once

#include <ATen/core/Tensor.h>

#include "dynamics/imagination.h"
#include "policy/actor_critic_loss.h"
#include "policy/actor_critic.h"
#include "policy/policy_inputs.h"

namespace wm::policy {

// The trajectories (actor_critic_loss.h), continues being the world model's predicted chance
// that the episode goes on, and the frames they were lived in.
struct ImaginedRollout : Trajectory {
  at::Tensor tokens;  // int64 [B, H + 1, K]: the last real frame, then the imagined ones
};

// context_tokens int64 [B, T, K], context_actions [B, T - 1] / [B, T - 1, A] (the actions
// between them), context_mask bool [B, T] (false: padding before an episode's start; the GRU
// restarts after it). T must leave room in the world model's context.
ImaginedRollout imagine_rollout(ActorCritic& policy, PolicyInputs& inputs, dynamics::Imagination& dream, const at::Tensor& context_tokens,
                                const at::Tensor& context_actions, const at::Tensor& context_mask, int64_t horizon);

}  // namespace wm::policy
