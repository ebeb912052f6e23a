#include "policy/actor_critic_loss.h"

#include <torch/torch.h>

#include <algorithm>

#include "policy/lambda_returns.h"

namespace wm::policy {

Trajectory TrajectorySteps::stack() const {
  Trajectory t;
  t.actions = torch::stack(actions, 1);
  t.log_probs = torch::stack(log_probs, 1);
  t.entropies = torch::stack(entropies, 1);
  t.values = torch::stack(values, 1);
  t.rewards = torch::stack(rewards, 1);
  t.continues = torch::stack(continues, 1);
  return t;
}

ActorCriticLoss actor_critic_loss(const Trajectory& t, const PolicyTrainOptions& options, double& return_scale) {
  const int64_t H = t.rewards.size(1);
  // Targets: λ-returns of the rewards, bootstrapped by the (frozen) values.
  const at::Tensor returns = lambda_returns(t.rewards, t.continues, t.values.detach(), options.gamma, options.lambda);  // [B, H]
  const at::Tensor weight = t.alive;
  const at::Tensor alive_steps = weight.sum().clamp_min(1.0);
  double scale = 1.0;
  if (options.normalize_returns) {
    // DreamerV3: divide by the spread of returns (5th to 95th percentile), tracked with an
    // EMA, but never scale small returns up.
    const at::Tensor flat = returns.masked_select(weight > 0);
    const at::Tensor q = torch::quantile(flat, torch::tensor({0.05, 0.95}, flat.options()));
    const double range = (q[1] - q[0]).item<double>();
    return_scale = return_scale <= 0 ? range : 0.99 * return_scale + 0.01 * range;
    scale = std::max(1.0, return_scale);
  }
  const at::Tensor values = t.values.narrow(1, 0, H);
  const at::Tensor advantages = (returns - values.detach()) / scale;

  // REINFORCE with the value as baseline, an entropy bonus, and value regression.
  const at::Tensor actor_loss = -(weight * t.log_probs * advantages).sum() / alive_steps;
  const at::Tensor entropy = (weight * t.entropies).sum() / alive_steps;
  const at::Tensor value_error = values - returns;
  const at::Tensor value_loss = 0.5 * (weight * value_error.pow(2)).sum() / alive_steps;

  ActorCriticLoss loss;
  loss.total = actor_loss - options.entropy_weight * entropy + value_loss;
  const double steps = alive_steps.item<double>();
  loss.scalars = {{"policy/loss", loss.total.item<double>()},
                  {"policy/actor_loss", actor_loss.item<double>()},
                  {"policy/value_loss", value_loss.item<double>()},
                  {"policy/lambda_return", (weight * returns).sum().item<double>() / steps},
                  {"policy/entropy", entropy.item<double>()},
                  {"policy/value_error", (weight * value_error.abs()).sum().item<double>() / steps},
                  {"policy/advantage_scale", scale}};
  return loss;
}

}  // namespace wm::policy
