#include "policy/actor_critic.h"

#include <torch/torch.h>

#include <cmath>

namespace wm::policy {

namespace {

// 3x3 conv + SiLU; stride 2 halves the grid.
void add_conv(torch::nn::Sequential& s, int64_t in, int64_t out, int64_t stride) {
  s->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1)));
  s->push_back(torch::nn::SiLU());
}

}  // namespace

PolicyTowerImpl::PolicyTowerImpl(const PolicyOptions& options, int64_t outputs) {
  const int64_t ch = options.channels, hidden = options.hidden;
  // A token grid (8 x 8) is read at full resolution once; pixels are halved at once (a full-
  // resolution layer of `ch` channels over 64 x 64 would cost 4x the rest together). Then halve
  // until the grid is 4 x 4 or smaller: 8 x 8 tokens -> 4 x 4, 64 x 64 pixels -> 4 x 4.
  torch::nn::Sequential encoder;
  int64_t h = options.input_height, w = options.input_width;
  const int64_t first_stride = (h > 16 || w > 16) ? 2 : 1;
  add_conv(encoder, options.input_channels, ch, first_stride);
  h = (h + first_stride - 1) / first_stride, w = (w + first_stride - 1) / first_stride;
  while (h > 4 || w > 4) {
    add_conv(encoder, ch, ch, 2);
    h = (h + 1) / 2, w = (w + 1) / 2;
  }
  encoder->push_back(torch::nn::Flatten());
  encoder_ = register_module("encoder", encoder);
  project_ = register_module("project", torch::nn::Linear(ch * h * w, hidden));
  core_ = register_module("core", torch::nn::GRUCell(hidden, hidden));
  last_ = torch::nn::Linear(hidden, outputs);
  head_ = register_module("head", torch::nn::Sequential(torch::nn::Linear(hidden, hidden), torch::nn::SiLU(), last_));
}

std::pair<at::Tensor, at::Tensor> PolicyTowerImpl::forward(const at::Tensor& inputs, const at::Tensor& state) {
  const at::Tensor features = torch::silu(project_(encoder_->forward(inputs)));  // [B, hidden]
  const at::Tensor next = core_(features, state);                                // [B, hidden]
  return {head_->forward(next), next};
}

ActorCriticImpl::ActorCriticImpl(PolicyOptions options) : options_(std::move(options)) {
  options_.validate();
  const int64_t outputs = options_.discrete_actions() ? options_.num_actions : 2 * options_.action_dim();
  // A shared trunk's head has one more output: the value, in the last column.
  actor_ = register_module("actor", PolicyTower(options_, options_.shared_trunk ? outputs + 1 : outputs));
  if (!options_.shared_trunk) critic_ = register_module("critic", PolicyTower(options_, 1));
  // A near-uniform first policy and a zero first value: early advantages are the returns.
  torch::NoGradGuard no_grad;
  actor_->last_layer()->weight.mul_(0.01);
  actor_->last_layer()->bias.zero_();
  if (options_.shared_trunk) {
    actor_->last_layer()->weight[outputs].zero_();
  } else {
    critic_->last_layer()->weight.zero_();
    critic_->last_layer()->bias.zero_();
  }
}

namespace {

// symlog(x) = sign(x) ln(1 + |x|) and its inverse, written by cases: as sign(x) * f(|x|)
// their gradient at 0 would be 0 (sign's and abs's), and a critic that starts at 0 would
// never move. Each branch is clamped only where the other one is chosen, so its gradient
// where it is chosen is untouched and it stays finite where it is not.
at::Tensor symlog(const at::Tensor& x) { return torch::where(x >= 0, torch::log1p(x.clamp_min(-0.5)), -torch::log1p((-x).clamp_min(-0.5))); }
at::Tensor symexp(const at::Tensor& y) {
  // Clamped at 80: exp(80) is far beyond any return, and finite in float.
  return torch::where(y >= 0, torch::expm1(y.clamp_max(80)), -torch::expm1((-y).clamp_max(80)));
}

}  // namespace

at::Tensor value_regression_error(const at::Tensor& values, const at::Tensor& targets, const PolicyOptions& options) {
  return options.symlog_value ? symlog(values) - symlog(targets) : values - targets;
}

PolicyStep ActorCriticImpl::forward(const at::Tensor& inputs, const at::Tensor& state) {
  at::Tensor out, value, next_state;
  if (options_.shared_trunk) {
    std::tie(out, next_state) = actor_->forward(inputs, state);  // out [B, outputs + 1]
    value = out.select(-1, out.size(-1) - 1);
    out = out.narrow(-1, 0, out.size(-1) - 1);
  } else {
    const auto states = state.chunk(2, -1);  // the actor's and the critic's, [B, hidden] each
    at::Tensor actor_state, critic_state;
    std::tie(out, actor_state) = actor_->forward(inputs, states[0]);
    std::tie(value, critic_state) = critic_->forward(inputs, states[1]);
    value = value.squeeze(-1);
    next_state = torch::cat({actor_state, critic_state}, -1);
  }
  PolicyStep step;
  if (options_.discrete_actions()) {
    step.logits = out;
  } else {
    const auto halves = out.chunk(2, -1);
    step.mean = halves[0];
    // Softly bounded to [-5, 2]: a hard clamp passes no gradient once past a bound, and the
    // spread would stay stuck there.
    step.log_std = -5.0 + 3.5 * (torch::tanh(halves[1]) + 1.0);
  }
  step.value = options_.symlog_value ? symexp(value) : value;
  step.state = next_state;
  return step;
}

at::Tensor ActorCriticImpl::initial_state(int64_t batch) const {
  return torch::zeros({batch, (options_.shared_trunk ? 1 : 2) * options_.hidden}, parameters().front().options());
}

std::vector<at::Tensor> ActorCriticImpl::critic_parameters() const {
  return options_.shared_trunk ? std::vector<at::Tensor>{} : critic_->parameters();
}

namespace {

// The squashed Gaussian's pieces for actions a = low + (tanh(u) + 1) / 2 * (high - low).
struct SquashedGaussian {
  at::Tensor low, high, log_half_range;  // [1, A]
  double log_sqrt_2pi = 0.5 * std::log(2 * M_PI);

  SquashedGaussian(const PolicyStep& step, const PolicyOptions& options) {
    const auto to_tensor = [&](const std::vector<double>& v) {
      return torch::tensor(v, step.mean.options()).unsqueeze(0);  // [1, A]
    };
    low = to_tensor(options.action_low), high = to_tensor(options.action_high);
    log_half_range = torch::log(0.5 * (high - low));
  }

  // Back from actions to u; an action on a bound (tanh saturated in float) is pulled in just
  // enough for atanh to stay finite.
  at::Tensor u_of(const at::Tensor& actions) const {
    return torch::atanh(((actions - low) / (high - low) * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6));
  }

  // log p(a) through the change of variables (tanh, then the affine map), u held fixed:
  //   log p(a) = sum_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2) - log((high_i - low_i) / 2)]
  at::Tensor log_prob(const PolicyStep& step, const at::Tensor& u) const {
    const at::Tensor gaussian = -0.5 * ((u - step.mean) / step.log_std.exp()).pow(2) - step.log_std - log_sqrt_2pi;
    return (gaussian - torch::log(1 - torch::tanh(u).pow(2) + 1e-6) - log_half_range).sum(-1);
  }

  // The entropy of the squashed action, -E[log p(a)], estimated from one draw
  // reparameterised (u = mean + std * eps keeps its gradient): the Gaussian's entropy alone
  // would grow without bound with std while the squash piles the actions on the bounds.
  at::Tensor entropy(const PolicyStep& step, const at::Tensor& eps) const {
    const at::Tensor squashed = torch::tanh(step.mean + step.log_std.exp() * eps);
    return (0.5 * eps.pow(2) + step.log_std + log_sqrt_2pi + torch::log(1 - squashed.pow(2) + 1e-6) + log_half_range).sum(-1);
  }
};

}  // namespace

SampledActions sample_actions(const PolicyStep& step, const PolicyOptions& options, bool greedy) {
  SampledActions s;
  if (options.discrete_actions()) {
    const at::Tensor log_p = torch::log_softmax(step.logits, -1);  // [B, n]
    s.actions = greedy ? log_p.argmax(-1) : torch::multinomial(log_p.detach().exp(), 1).squeeze(-1);
    s.log_probs = log_p.gather(-1, s.actions.unsqueeze(-1)).squeeze(-1);
    s.entropy = -(log_p.exp() * log_p).sum(-1);
    return s;
  }
  // u = mean + std * eps, eps ~ N(0, 1).
  const SquashedGaussian g(step, options);
  const at::Tensor eps = greedy ? torch::zeros_like(step.log_std) : torch::randn_like(step.log_std);
  // The action is a sample: REINFORCE differentiates its log-density, not the action.
  const at::Tensor u = (step.mean + step.log_std.exp() * eps).detach();
  s.actions = g.low + (torch::tanh(u) + 1) * 0.5 * (g.high - g.low);
  // The density at the u read back from the action, as evaluate_actions reads it: a later
  // PPO pass must see ratio 1 for unchanged weights, saturated actions included (where tanh
  // rounds to the bound in float and u itself cannot be recovered).
  s.log_probs = g.log_prob(step, g.u_of(s.actions));
  s.entropy = g.entropy(step, eps);
  return s;
}

SampledActions evaluate_actions(const PolicyStep& step, const PolicyOptions& options, const at::Tensor& actions) {
  SampledActions s;
  s.actions = actions;
  if (options.discrete_actions()) {
    const at::Tensor log_p = torch::log_softmax(step.logits, -1);  // [B, n]
    s.log_probs = log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1);
    s.entropy = -(log_p.exp() * log_p).sum(-1);
    return s;
  }
  const SquashedGaussian g(step, options);
  s.log_probs = g.log_prob(step, g.u_of(actions));
  s.entropy = g.entropy(step, torch::randn_like(step.log_std));
  return s;
}

}  // namespace wm::policy
