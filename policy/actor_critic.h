// The actor-critic: two towers of the same shape, one for the actor and one for the critic,
// each a conv encoder over the frame's input grid (codebook vectors [D, h, w] or decoded
// pixels [3, H, W]), a GRU carried from frame to frame, and an MLP head on its state — the
// action distribution (categorical, or a tanh-squashed Gaussian scaled to the action bounds)
// and the value. Why two: with one shared trunk the value's regression (returns of several
// units, growing while the critic bootstraps) dominated the trunk's gradient and pushed the
// GRU into saturation, where neither head could tell frames apart any more; the signal-world
// test then never learned to read its frame. A shared trunk stays an option
// (policy.shared_trunk): then the value is one more output of the one tower's head.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>

#include "policy/policy_options.h"

namespace wm::policy {

struct PolicyStep {
  at::Tensor logits;   // discrete: [B, n]
  at::Tensor mean;     // continuous: [B, A], of the Gaussian before the squash
  at::Tensor log_std;  // continuous: [B, A]
  at::Tensor value;    // [B]
  at::Tensor state;    // [B, 2 * hidden]: both GRUs' states after this frame (actor's, critic's); [B, hidden] with a shared trunk
};

// One tower: encoder -> GRU -> MLP head.
class PolicyTowerImpl : public torch::nn::Module {
 public:
  PolicyTowerImpl(const PolicyOptions& options, int64_t outputs);
  // inputs [B, C, h, w], state [B, hidden] -> (head output [B, outputs], new state [B, hidden])
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& inputs, const at::Tensor& state);
  torch::nn::Linear& last_layer() { return last_; }

 private:
  torch::nn::Sequential encoder_{nullptr};
  torch::nn::Linear project_{nullptr};
  torch::nn::GRUCell core_{nullptr};
  torch::nn::Sequential head_{nullptr};
  torch::nn::Linear last_{nullptr};
};
TORCH_MODULE(PolicyTower);

class ActorCriticImpl : public torch::nn::Module {
 public:
  explicit ActorCriticImpl(PolicyOptions options);

  // inputs float [B, C, h, w] (PolicyInputs), state [B, 2 * hidden] -> this frame's step.
  PolicyStep forward(const at::Tensor& inputs, const at::Tensor& state);
  // Zeros [batch, 2 * hidden] on the module's device: the state before an episode's first frame.
  at::Tensor initial_state(int64_t batch) const;
  const PolicyOptions& options() const { return options_; }
  // Each tower's parameters: their gradients are clipped apart, so the critic's regression
  // (returns of tens of units) cannot shrink the actor's step (actor_critic_loss.cpp).
  std::vector<at::Tensor> actor_parameters() const { return actor_->parameters(); }
  // With a shared trunk every parameter is the actor's and the critic has none of its own.
  std::vector<at::Tensor> critic_parameters() const;

 private:
  PolicyOptions options_;
  PolicyTower actor_{nullptr}, critic_{nullptr};
};
TORCH_MODULE(ActorCritic);

// Actions drawn from a step's distribution, with what the actor loss needs.
struct SampledActions {
  at::Tensor actions;    // int64 [B] (discrete) or float [B, A] within the bounds (continuous)
  at::Tensor log_probs;  // [B], differentiable in the step's parameters
  at::Tensor entropy;    // [B]; continuous: a one-draw estimate of the squashed action's entropy
};

// `greedy`: the most likely action (the Gaussian's mean, squashed) instead of a draw.
SampledActions sample_actions(const PolicyStep& step, const PolicyOptions& options, bool greedy = false);

// What the critic's loss squares: values - returns, or their difference in symlog scale when
// the critic predicts symlog(return) (policy.symlog_value). [B, H] each.
at::Tensor value_regression_error(const at::Tensor& values, const at::Tensor& targets, const PolicyOptions& options);

// The log-probabilities of actions drawn earlier (int64 [B] or float [B, A]), and the
// entropy, under this step's distribution: what a later pass over the same trajectory
// (PPO's epochs) needs. `actions` in the result are the given ones.
SampledActions evaluate_actions(const PolicyStep& step, const PolicyOptions& options, const at::Tensor& actions);

}  // namespace wm::policy
