#include "policy/model_free_trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <numeric>

#include "core/training_options.h"
#include "policy/actor_critic_loss.h"
#include "policy/policy_agent.h"
#include "policy/policy_checkpoint.h"

namespace wm::policy {

ModelFreeTrainer::ModelFreeTrainer(ActorCritic policy, PolicyInputs inputs, PolicyTrainOptions options, envs::VectorEnv& env, c10::Device device,
                                   uint64_t seed)
    : policy_(std::move(policy)), inputs_(std::move(inputs)), options_(std::move(options)), env_(env), device_(device), seed_(seed) {
  options_.validate();
  policy_->to(device_);
  policy_->train();
  std::vector<torch::Tensor> decayed, other;
  for (const auto& p : policy_->parameters()) (p.dim() >= 2 ? decayed : other).push_back(p);
  optimizer_ = core::make_adamw(decayed, other, options_);
  frames_.resize(static_cast<size_t>(env_.size() * env_.frame_spec().bytes()));
  env_.reset(seed, frames_.data());
  state_ = policy_->initial_state(env_.size());
  running_returns_.assign(static_cast<size_t>(env_.size()), 0.0);
}

void ModelFreeTrainer::set_gradient_sync(const core::GradientSyncFactory& make) { gradient_sync_ = make(policy_->parameters()); }

core::Scalars ModelFreeTrainer::train_step() {
  const auto start = std::chrono::steady_clock::now();
  const double lr = options_.learning_rate(step_);
  core::set_learning_rate(*optimizer_, lr);
  const int64_t N = env_.size(), H = options_.horizon;
  const envs::FrameSpec spec = env_.frame_spec();
  const at::Tensor view = torch::from_blob(frames_.data(), {N, spec.height, spec.width, 3}, torch::kUInt8);

  // Play: H steps in every environment, the policy's side with its gradients.
  TrajectorySteps steps;
  const at::Tensor start_state = state_.detach();
  std::vector<double> finished;  // returns of the episodes that ended in this rollout
  for (int64_t t = 0; t < H; ++t) {
    steps.inputs.push_back(inputs_.from_frames(view).to(device_));
    const PolicyStep step = policy_->forward(steps.inputs.back(), state_);
    const SampledActions chosen = sample_actions(step, policy_->options());
    env_.step(to_env_actions(chosen.actions, policy_->options()), frames_.data(), results_);
    at::Tensor reward = torch::empty({N}, torch::kFloat32), goes_on = torch::empty({N}, torch::kFloat32);
    for (int64_t i = 0; i < N; ++i) {
      const envs::StepResult& r = results_[static_cast<size_t>(i)];
      reward[i] = r.reward;
      // A truncated episode ends here too: the next frame is already the next episode's, so
      // its value must not be bootstrapped into this one (a small bias at the time limit).
      goes_on[i] = r.done() ? 0.0f : 1.0f;
      running_returns_[static_cast<size_t>(i)] += r.reward;
      if (r.done()) {
        finished.push_back(running_returns_[static_cast<size_t>(i)]);
        running_returns_[static_cast<size_t>(i)] = 0.0;
      }
    }
    steps.actions.push_back(chosen.actions);
    steps.log_probs.push_back(chosen.log_probs);
    steps.entropies.push_back(chosen.entropy);
    steps.values.push_back(step.value);
    steps.rewards.push_back(reward.to(device_));
    steps.continues.push_back(goes_on.to(device_));
    state_ = step.state * steps.continues.back().unsqueeze(1);  // a new episode starts from the zero state
  }
  {
    torch::NoGradGuard no_grad;
    steps.values.push_back(policy_->forward(inputs_.from_frames(view).to(device_), state_).value);  // bootstraps R_H
  }
  real_steps_ += N * H;
  const double play_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  Trajectory lived = steps.stack();
  lived.alive = torch::ones_like(lived.rewards);  // every real step was lived (an ended episode's successor included)
  lived.start_state = start_state;
  lived.state_resets = lived.continues;
  core::Scalars scalars = update_actor_critic(policy_, *optimizer_, *gradient_sync_, lived, options_, return_scale_);
  state_ = state_.detach();
  ++step_;

  scalars.insert(scalars.end(), {{"policy/real_steps", static_cast<double>(real_steps_)},
                                 {"policy/real_steps_per_s", static_cast<double>(N * H) / play_seconds},
                                 {"policy/lr", lr}});
  if (!finished.empty()) {
    scalars.emplace_back("policy/episode_return", std::accumulate(finished.begin(), finished.end(), 0.0) / static_cast<double>(finished.size()));
  }
  return scalars;
}

void ModelFreeTrainer::save(core::CheckpointWriter& writer) {
  add_policy_training(writer, policy_, *optimizer_, step_, return_scale_);
  writer.set_counter("real_steps", real_steps_);
}

void ModelFreeTrainer::restore(const core::Checkpoint& checkpoint) {
  restore_policy_training(checkpoint, policy_, *optimizer_, step_, return_scale_);
  real_steps_ = checkpoint.counter("real_steps");
  torch::manual_seed(seed_ + static_cast<uint64_t>(step_) * 104729u);  // not the start's noise again
}

}  // namespace wm::policy
