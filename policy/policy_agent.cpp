#include "policy/policy_agent.h"

#include <torch/torch.h>

#include "core/error.h"
#include "policy/policy_checkpoint.h"
#include "tokenizer/tokenizer_checkpoint.h"

namespace wm::policy {

PolicyAgent::PolicyAgent(ActorCritic policy, PolicyInputs inputs, int64_t slots, bool greedy)
    : policy_(std::move(policy)), inputs_(std::move(inputs)), greedy_(greedy), state_(policy_->initial_state(slots)) {
  policy_->eval();
}

std::vector<envs::Action> PolicyAgent::act(const at::Tensor& frames) {
  if (frames.size(0) != state_.size(0)) {
    throw core::Error("policy agent: " + std::to_string(frames.size(0)) + " frames for " + std::to_string(state_.size(0)) + " slots");
  }
  torch::NoGradGuard no_grad;
  const PolicyStep step = policy_->forward(inputs_.from_frames(frames), state_);
  state_ = step.state;
  return to_env_actions(sample_actions(step, policy_->options(), greedy_).actions, policy_->options());
}

std::vector<envs::Action> to_env_actions(const at::Tensor& chosen, const PolicyOptions& options) {
  std::vector<envs::Action> actions;
  if (options.discrete_actions()) {
    const at::Tensor indices = chosen.to(torch::kCPU, torch::kInt64).contiguous();
    for (int64_t i = 0; i < indices.size(0); ++i) actions.push_back(envs::Action::discrete(indices.data_ptr<int64_t>()[i]));
    return actions;
  }
  const at::Tensor rows = chosen.to(torch::kCPU, torch::kFloat32).contiguous();  // [N, A]
  const int64_t A = rows.size(1);
  for (int64_t i = 0; i < rows.size(0); ++i) {
    const float* row = rows.data_ptr<float>() + i * A;
    actions.push_back(envs::Action::box(std::vector<float>(row, row + A)));
  }
  return actions;
}

void PolicyAgent::episode_ended(int64_t slot) {
  torch::NoGradGuard no_grad;
  state_[slot].zero_();
}

std::string action_space_mismatch(const PolicyOptions& policy, const envs::ActionSpace& space) {
  auto describe_policy = [&] {
    if (policy.discrete_actions()) return "discrete(" + std::to_string(policy.num_actions) + ")";
    return "box(" + std::to_string(policy.action_dim()) + ")";
  };
  const bool same = policy.discrete_actions() ? space.is_discrete() && space.n == policy.num_actions
                                              : !space.is_discrete() && space.dim == policy.action_dim();
  return same ? "" : "the policy acts in " + describe_policy() + " but the environment's actions are " + space.describe();
}

std::unique_ptr<PolicyAgent> load_policy_agent(const std::filesystem::path& checkpoint, const envs::VectorEnv& env, c10::Device device,
                                               bool greedy) {
  ActorCritic policy = load_policy(checkpoint, device);
  const std::string mismatch = action_space_mismatch(policy->options(), env.action_space());
  if (!mismatch.empty()) throw core::Error(checkpoint.string() + ": " + mismatch + " (" + env.name() + ")");
  const PolicyOptions& o = policy->options();
  if (o.input == PolicyInput::kPixels) {
    const envs::FrameSpec frames = env.frame_spec();
    if (frames.height != o.input_height || frames.width != o.input_width) {
      throw core::Error(checkpoint.string() + ": the policy reads " + std::to_string(o.input_height) + "x" + std::to_string(o.input_width) +
                        " frames but " + env.name() + " gives " + std::to_string(frames.height) + "x" + std::to_string(frames.width));
    }
    return std::make_unique<PolicyAgent>(policy, PolicyInputs::pixels(o.input_height, o.input_width, device), env.size(), greedy);
  }
  // The tokenizer the policy was trained to read through travels in its checkpoint.
  tokenizer::VQModel tokenizer = tokenizer::load_tokenizer(checkpoint, device).model;
  PolicyInputs inputs(tokenizer, o.input);
  return std::make_unique<PolicyAgent>(policy, inputs, env.size(), greedy);
}

}  // namespace wm::policy
