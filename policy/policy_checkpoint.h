// The policy in a checkpoint: the actor-critic's weights and its options (so it can be
// rebuilt from the file alone), with the training state the trainer adds beside them.
#pragma once

#include <filesystem>

#include <torch/optim/adamw.h>

#include "core/checkpoint.h"
#include "policy/actor_critic.h"

namespace wm::policy {

constexpr const char* kPolicyModule = "policy";

void add_policy(core::CheckpointWriter& writer, ActorCritic& policy);

// The options the checkpoint's policy was built with; throws naming the file when it holds
// no policy.
PolicyOptions policy_options_of(const core::Checkpoint& checkpoint);

// Restores the weights into `policy`; a policy of another shape (input, size, action space)
// is a wm::core::Error naming the field and both values.
void restore_policy(const core::Checkpoint& checkpoint, ActorCritic& policy);

// A trainer's state beside the policy: its AdamW, step counter and return scale (whichever
// trainer: in dreams or model-free). restore_policy_training checks the shape as restore_policy.
void add_policy_training(core::CheckpointWriter& writer, ActorCritic& policy, torch::optim::AdamW& optimizer, int64_t step, double return_scale);
void restore_policy_training(const core::Checkpoint& checkpoint, ActorCritic& policy, torch::optim::AdamW& optimizer, int64_t& step,
                             double& return_scale);

// Loads a policy checkpoint onto `device`, in eval mode.
ActorCritic load_policy(const std::filesystem::path& path, c10::Device device);

}  // namespace wm::policy
