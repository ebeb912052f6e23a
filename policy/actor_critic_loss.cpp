#include "policy/actor_critic_loss.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "policy/lambda_returns.h"

namespace wm::policy {

namespace {

// The L2 norm of the parameters' gradients together (0 for none).
double gradient_norm(const std::vector<at::Tensor>& parameters) {
  double squares = 0;
  for (const at::Tensor& p : parameters) {
    if (p.grad().defined()) squares += p.grad().pow(2).sum().item<double>();
  }
  return std::sqrt(squares);
}

// What scales a gradient of this norm down to max_norm (torch's clip_grad_norm_ rule); 1 below it.
double clip_coefficient(double norm, double max_norm) { return std::min(1.0, max_norm / (norm + 1e-6)); }

void scale_gradients(const std::vector<at::Tensor>& parameters, double coefficient) {
  if (coefficient >= 1.0) return;
  torch::NoGradGuard no_grad;
  for (const at::Tensor& p : parameters) {
    if (p.grad().defined()) p.grad().mul_(coefficient);
  }
}

}  // namespace

Trajectory TrajectorySteps::stack() const {
  Trajectory t;
  t.actions = torch::stack(actions, 1);
  t.log_probs = torch::stack(log_probs, 1);
  t.entropies = torch::stack(entropies, 1);
  t.values = torch::stack(values, 1);
  t.rewards = torch::stack(rewards, 1);
  t.continues = torch::stack(continues, 1);
  t.inputs = inputs;
  return t;
}

ActorCriticTargets actor_critic_targets(const Trajectory& t, const PolicyTrainOptions& options, double& return_scale, core::Ranks* ranks) {
  torch::NoGradGuard no_grad;
  ActorCriticTargets targets;
  const int64_t H = t.rewards.size(1);
  // λ-returns of the rewards, bootstrapped by the (frozen) values.
  targets.returns = lambda_returns(t.rewards, t.continues, t.values.detach(), options.gamma, options.lambda);  // [B, H]
  // Batch statistics are the job's: under data parallelism every rank's rows, in rank order
  // ([ranks * B, H]), so each rank scales by the same numbers, those of one process's batch.
  auto job_rows = [&](const at::Tensor& rows) { return ranks ? core::gather_rows(*ranks, rows.contiguous()) : rows; };
  const at::Tensor job_alive = job_rows(t.alive);
  targets.alive_steps_per_rank = std::max(1.0, job_alive.sum().item<double>() / (ranks ? ranks->world_size() : 1));
  if (options.normalize_returns) {
    // DreamerV3: divide by the spread of returns (5th to 95th percentile), tracked with an
    // EMA, but never scale small returns up.
    const at::Tensor flat = job_rows(targets.returns).masked_select(job_alive > 0);
    const at::Tensor q = torch::quantile(flat, torch::tensor({0.05, 0.95}, flat.options()));
    const double range = (q[1] - q[0]).item<double>();
    return_scale = return_scale <= 0 ? range : 0.99 * return_scale + 0.01 * range;
    targets.scale = std::max(1.0, return_scale);
  }
  targets.advantages = (targets.returns - t.values.narrow(1, 0, H).detach()) / targets.scale;
  if (options.normalize_advantages) {
    // Mean and spread weighted by the chance each step was reached (a dream's nearly ended
    // steps count little, as in the loss).
    const at::Tensor w = job_alive / job_alive.sum().clamp_min(1e-6);
    const at::Tensor advantages = job_rows(targets.advantages);
    const at::Tensor mean = (w * advantages).sum();
    const at::Tensor spread = (w * (advantages - mean).pow(2)).sum().sqrt();
    targets.advantages = (targets.advantages - mean) / (spread + 1e-6);
  }
  targets.old_log_probs = t.log_probs.detach();
  return targets;
}

ActorCriticLoss actor_critic_loss(const Trajectory& t, const ActorCriticTargets& targets, const PolicyTrainOptions& options,
                                  const PolicyOptions& policy_options) {
  const int64_t H = t.rewards.size(1);
  const at::Tensor& weight = t.alive;
  const double steps = targets.alive_steps_per_rank;
  const at::Tensor& advantages = targets.advantages;

  // REINFORCE with the value as baseline, written as PPO's clipped surrogate: on the pass
  // that lived the steps the ratio is 1 and its gradient is REINFORCE's, A * grad log pi;
  // later passes stop pushing an action once its probability moved by clip_ratio.
  const at::Tensor ratio = torch::exp(t.log_probs - targets.old_log_probs);  // [B, H]
  const at::Tensor clipped = ratio.clamp(1.0 - options.clip_ratio, 1.0 + options.clip_ratio);
  const at::Tensor surrogate = torch::min(ratio * advantages, clipped * advantages);
  const at::Tensor actor_loss = -(weight * surrogate).sum() / steps;
  const at::Tensor entropy = (weight * t.entropies).sum() / steps;
  const at::Tensor value_error = t.values.narrow(1, 0, H) - targets.returns;
  const at::Tensor regression_error = value_regression_error(t.values.narrow(1, 0, H), targets.returns, policy_options);
  const at::Tensor value_loss = 0.5 * (weight * regression_error.pow(2)).sum() / steps;

  ActorCriticLoss loss;
  loss.total = actor_loss - options.entropy_weight * entropy + value_loss;
  const at::Tensor was_clipped = ((ratio - 1.0).abs() > options.clip_ratio).to(weight.scalar_type());
  loss.scalars = {{"policy/loss", loss.total.item<double>()},
                  {"policy/actor_loss", actor_loss.item<double>()},
                  {"policy/value_loss", value_loss.item<double>()},
                  {"policy/lambda_return", (weight * targets.returns).sum().item<double>() / steps},
                  {"policy/entropy", entropy.item<double>()},
                  {"policy/value_error", (weight * value_error.abs()).sum().item<double>() / steps},
                  {"policy/advantage_scale", targets.scale},
                  {"policy/clip_fraction", (weight * was_clipped).sum().item<double>() / steps}};
  return loss;
}

void relive(ActorCritic& policy, Trajectory& t) {
  const int64_t H = t.rewards.size(1);
  at::Tensor state = t.start_state;
  std::vector<at::Tensor> log_probs, entropies, values;
  for (int64_t step = 0; step < H; ++step) {
    const PolicyStep out = policy->forward(t.inputs[static_cast<size_t>(step)], state);
    const SampledActions again = evaluate_actions(out, policy->options(), t.actions.select(1, step));
    log_probs.push_back(again.log_probs);
    entropies.push_back(again.entropy);
    values.push_back(out.value);
    state = t.state_resets.defined() ? out.state * t.state_resets.select(1, step).unsqueeze(1) : out.state;
  }
  t.log_probs = torch::stack(log_probs, 1);
  t.entropies = torch::stack(entropies, 1);
  t.values = torch::stack(values, 1);
}

core::Scalars update_actor_critic(ActorCritic& policy, torch::optim::Optimizer& optimizer, core::GradientSync& sync, Trajectory& t,
                                  const PolicyTrainOptions& options, double& return_scale, core::Ranks* ranks) {
  const ActorCriticTargets targets = actor_critic_targets(t, options, return_scale, ranks);
  core::Scalars first;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    if (epoch > 0) relive(policy, t);
    const ActorCriticLoss loss = actor_critic_loss(t, targets, options, policy->options());
    optimizer.zero_grad();
    sync.before_backward(/*last=*/true);
    loss.total.backward();
    sync.finish();  // from here the gradients are the mean over all ranks
    // Both towers' norms are logged; the clip acts on their joint norm or, with
    // clip_towers_apart, on each (under the joint norm the critic's gradient, tens of times the
    // actor's while values chase returns of tens of units, scales the actor's step down).
    const std::vector<at::Tensor> actor = policy->actor_parameters(), critic = policy->critic_parameters();
    const double actor_norm = gradient_norm(actor), critic_norm = gradient_norm(critic);
    const double joint_norm = std::hypot(actor_norm, critic_norm);
    scale_gradients(actor, clip_coefficient(options.clip_towers_apart ? actor_norm : joint_norm, options.grad_clip));
    scale_gradients(critic, clip_coefficient(options.clip_towers_apart ? critic_norm : joint_norm, options.grad_clip));
    optimizer.step();
    if (epoch == 0) {
      first = loss.scalars;
      first.emplace_back("policy/grad_norm", joint_norm);
      first.emplace_back("policy/actor_grad_norm", actor_norm);
      first.emplace_back("policy/critic_grad_norm", critic_norm);
    } else if (epoch + 1 == options.epochs) {
      for (auto& [name, value] : first) {
        if (name == "policy/clip_fraction") value = loss.scalars.back().second;  // the first pass's is 0 by construction
      }
    }
  }
  return first;
}

}  // namespace wm::policy
