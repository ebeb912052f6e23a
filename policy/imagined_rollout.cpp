#include "policy/imagined_rollout.h"

#include <torch/torch.h>

namespace wm::policy {

ImaginedRollout imagine_rollout(ActorCritic& policy, PolicyInputs& inputs, dynamics::Imagination& dream, const at::Tensor& context_tokens,
                                const at::Tensor& context_actions, const at::Tensor& context_mask, int64_t horizon) {
  const int64_t B = context_tokens.size(0), T = context_tokens.size(1);
  const torch::Device device = policy->initial_state(1).device();
  const at::Tensor mask = context_mask.to(device, torch::kFloat32);  // [B, T]

  // Burn-in: the GRU reads the real frames before the last one, without gradients; a padded
  // step leaves the state at zero.
  at::Tensor state = policy->initial_state(B);
  {
    torch::NoGradGuard no_grad;
    for (int64_t t = 0; t + 1 < T; ++t) {
      state = policy->forward(inputs.from_tokens(context_tokens.select(1, t).to(device)), state).state * mask.select(1, t).unsqueeze(1);
    }
  }
  dream.reset(context_tokens, context_actions);
  const at::Tensor start_state = state;

  TrajectorySteps steps;
  std::vector<at::Tensor> tokens;
  at::Tensor frame = context_tokens.select(1, T - 1).to(device);  // [B, K]
  tokens.push_back(frame);
  for (int64_t t = 0; t < horizon; ++t) {
    steps.inputs.push_back(inputs.from_tokens(frame));
    const PolicyStep step = policy->forward(steps.inputs.back(), state);
    const SampledActions chosen = sample_actions(step, policy->options());
    const dynamics::ImaginedStep outcome = dream.step(chosen.actions);
    steps.actions.push_back(chosen.actions);
    steps.log_probs.push_back(chosen.log_probs);
    steps.entropies.push_back(chosen.entropy);
    steps.values.push_back(step.value);
    steps.rewards.push_back(outcome.rewards.to(device));
    // The chance the episode goes on, not a thresholded guess: a crash the model gives 30%
    // still costs 30% of the future, where "done if p > 0.5" would let a rare event never end
    // a dream (termination is one step in hundreds of the data).
    steps.continues.push_back(1.0 - outcome.done_probs.to(device, torch::kFloat32));
    frame = outcome.tokens.to(device);
    tokens.push_back(frame);
    state = step.state;
  }
  steps.values.push_back(policy->forward(inputs.from_tokens(frame), state).value);  // bootstraps R_H

  ImaginedRollout r;
  static_cast<Trajectory&>(r) = steps.stack();
  // alive_0 = 1, alive_{t+1} = alive_t * c_t: steps after a termination do not count.
  r.alive = torch::cat({torch::ones({B, 1}, r.continues.options()), torch::cumprod(r.continues, 1).narrow(1, 0, horizon - 1)}, 1);
  r.tokens = torch::stack(tokens, 1);
  r.start_state = start_state;  // the dream never restarts the GRU: no state_resets
  return r;
}

}  // namespace wm::policy
