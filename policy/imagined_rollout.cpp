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

  std::vector<at::Tensor> actions, log_probs, entropies, values, rewards, continues, tokens;
  at::Tensor frame = context_tokens.select(1, T - 1).to(device);  // [B, K]
  tokens.push_back(frame);
  for (int64_t t = 0; t < horizon; ++t) {
    const PolicyStep step = policy->forward(inputs.from_tokens(frame), state);
    const SampledActions chosen = sample_actions(step, policy->options());
    const dynamics::ImaginedStep outcome = dream.step(chosen.actions);
    actions.push_back(chosen.actions);
    log_probs.push_back(chosen.log_probs);
    entropies.push_back(chosen.entropy);
    values.push_back(step.value);
    rewards.push_back(outcome.rewards.to(device));
    continues.push_back(1.0 - outcome.dones.to(device, torch::kFloat32));
    frame = outcome.tokens.to(device);
    tokens.push_back(frame);
    state = step.state;
  }
  values.push_back(policy->forward(inputs.from_tokens(frame), state).value);  // bootstraps R_H

  ImaginedRollout r;
  r.actions = torch::stack(actions, 1);
  r.log_probs = torch::stack(log_probs, 1);
  r.entropies = torch::stack(entropies, 1);
  r.values = torch::stack(values, 1);
  r.rewards = torch::stack(rewards, 1);
  r.continues = torch::stack(continues, 1);
  // alive_0 = 1, alive_{t+1} = alive_t * c_t: steps after a termination do not count.
  r.alive = torch::cat({torch::ones({B, 1}, r.continues.options()), torch::cumprod(r.continues, 1).narrow(1, 0, horizon - 1)}, 1);
  r.tokens = torch::stack(tokens, 1);
  return r;
}

}  // namespace wm::policy
