#include "dynamics/dynamics_test_support.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dynamics/imagination.h"

namespace wm::dynamics {

DynamicsOptions small_dynamics_options(bool continuous) {
  DynamicsOptions o;
  o.tokens_per_frame = 4;
  o.vocab_size = 8;
  o.num_actions = continuous ? 0 : 2;
  o.action_dim = continuous ? 2 : 0;
  o.layers = 2;
  o.width = 64;
  o.heads = 4;
  o.context_steps = 6;
  o.dropout = 0.0;
  return o;
}

DynamicsBatch shifting_batch(const DynamicsOptions& o, int64_t batch, uint64_t seed, int64_t padded) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t L = o.context_steps, K = o.tokens_per_frame;
  const torch::Tensor right = torch::randint(0, 2, {batch, L}, gen, torch::kInt64);  // direction per step
  torch::Tensor tokens = torch::empty({batch, L, K}, torch::kInt64);
  tokens.select(1, 0).copy_(torch::randint(0, o.vocab_size, {batch, K}, gen, torch::kInt64));
  for (int64_t t = 1; t < L; ++t) {
    const torch::Tensor previous = tokens.select(1, t - 1);
    const torch::Tensor shifted = torch::where(right.select(1, t - 1).unsqueeze(1).to(torch::kBool), previous.roll(1, 1), previous.roll(-1, 1));
    tokens.select(1, t).copy_(shifted);
  }
  DynamicsBatch b;
  b.tokens = tokens;
  if (o.discrete_actions()) {
    b.actions = right;
  } else {
    // First value: the direction (+-1, with noise); second: noise the model must ignore.
    const torch::Tensor direction = right.to(torch::kFloat32) * 2 - 1;
    b.actions = torch::stack({direction * (0.5 + torch::rand({batch, L}, gen)), torch::randn({batch, L}, gen)}, 2);
  }
  b.rewards = right.to(torch::kFloat32) * 2 - 1;
  b.dones = tokens.select(2, 0).eq(0).to(torch::kUInt8);
  b.mask = torch::ones({batch, L}, torch::kBool);
  if (padded > 0) b.mask[0].narrow(0, 0, padded).fill_(false);
  return b;
}

DynamicsBatch graded_shifting_batch(const DynamicsOptions& o, int64_t batch, uint64_t seed, int64_t padded) {
  DynamicsBatch b = shifting_batch(o, batch, seed, padded);
  const torch::Tensor scales = torch::tensor({0.0f, 0.5f, 1.0f, 2.0f, 5.0f, 10.0f, 15.0f, 20.0f});
  const torch::Tensor first = b.tokens.select(2, 0), second = b.tokens.select(2, 1);  // [B, L]
  b.rewards = scales.index({first.remainder(8)}) * b.rewards;  // b.rewards: +1 right, -1 left
  b.dones = first.eq(second).to(torch::kUInt8);
  return b;
}

DynamicsOptions shifting_world_model_options(bool continuous) {
  DynamicsOptions o = small_dynamics_options(continuous);
  o.layers = 4;
  return o;
}

DynamicsTrainOptions shifting_world_training() {
  DynamicsTrainOptions t;
  t.steps = 500;
  t.batch_size = 32;
  t.lr = 2e-3;
  t.warmup_steps = 50;
  t.grad_clip = 1.0;
  return t;
}

int64_t follow_greedy_dream(WorldModel model, const DynamicsBatch& b, int64_t steps, const DreamCheck& check) {
  const int64_t L = model->options().context_steps, B = b.tokens.size(0);
  Imagination dream(model, B, {.temperature = 0.0});
  std::vector<torch::Tensor> frames = {b.tokens.select(1, 0), b.tokens.select(1, 1)}, actions = {b.actions.select(1, 0)};
  dream.reset(b.tokens.narrow(1, 0, 2), b.actions.narrow(1, 0, 1));
  torch::NoGradGuard no_grad;
  int64_t rebuilds = 0;
  for (int64_t step = 0; step < steps; ++step) {
    const torch::Tensor action = b.actions.select(1, (step + 1) % L);
    if (static_cast<int64_t>(frames.size()) >= L) {  // what the dream does before this step
      frames.erase(frames.begin(), frames.end() - L / 2);
      actions.erase(actions.begin(), actions.end() - (L / 2 - 1));
      ++rebuilds;
    }
    const ImaginedStep s = dream.step(action);
    actions.push_back(action);
    frames.push_back(s.tokens);
    std::vector<torch::Tensor> window_actions = actions;
    window_actions.push_back(action);
    check(step, torch::stack(frames, 1), torch::stack(window_actions, 1), s.tokens);
  }
  return rebuilds;
}

void expect_token_by_token_argmax(WorldModel model, const torch::Tensor& tokens, const torch::Tensor& actions, const torch::Tensor& dreamed) {
  const int64_t K = model->options().tokens_per_frame, P = model->options().positions_per_step();
  torch::NoGradGuard no_grad;
  const torch::Tensor predicted = model->forward(tokens, actions).argmax(-1);  // [B, S * P]
  const int64_t last = tokens.size(1) - 1;
  EXPECT_TRUE(torch::equal(predicted.select(1, (last - 1) * P + K), dreamed.select(1, 0))) << "token 0";
  for (int64_t j = 1; j < K; ++j) EXPECT_TRUE(torch::equal(predicted.select(1, last * P + j - 1), dreamed.select(1, j))) << "token " << j;
}

double scalar_named(const core::Scalars& scalars, const std::string& name) {
  const std::optional<double> value = core::find_scalar(scalars, name);
  if (!value) ADD_FAILURE() << name << " not logged";
  return value.value_or(0);
}

}  // namespace wm::dynamics
