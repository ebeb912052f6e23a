// A trained policy acting in a real environment through the agent interface: each slot's
// frame goes through the tokenizer into what the policy reads (the same inputs it had in its
// dreams), each slot keeps its own recurrent state, reset when its episode ends.
#pragma once

#include <filesystem>
#include <memory>

#include "envs/agent.h"
#include "policy/actor_critic.h"
#include "policy/policy_inputs.h"

namespace wm::policy {

class PolicyAgent : public envs::Agent {
 public:
  // `greedy`: the most likely action instead of a draw from the policy.
  PolicyAgent(ActorCritic policy, PolicyInputs inputs, int64_t slots, bool greedy = false);

  std::string name() const override { return greedy_ ? "policy (greedy)" : "policy"; }
  std::vector<envs::Action> act(const at::Tensor& frames) override;
  void episode_ended(int64_t slot) override;

 private:
  ActorCritic policy_;
  PolicyInputs inputs_;
  bool greedy_;
  at::Tensor state_;  // [slots, 2 * hidden]
};

// A policy checkpoint (with the tokenizer it reads through) as an agent for `env`. Throws
// wm::core::Error naming both when the policy's action space is not the environment's.
std::unique_ptr<PolicyAgent> load_policy_agent(const std::filesystem::path& checkpoint, const envs::VectorEnv& env, c10::Device device,
                                               bool greedy = false);

// Sampled actions int64 [N] or float [N, A] (any device) as N environment actions.
std::vector<envs::Action> to_env_actions(const at::Tensor& chosen, const PolicyOptions& options);

// Whether the policy's actions and the environment's are the same space; else what differs.
std::string action_space_mismatch(const PolicyOptions& policy, const envs::ActionSpace& space);

}  // namespace wm::policy
