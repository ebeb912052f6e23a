// The copy path (dynamics.previous_frame_input, dynamics.copy_gate): a world where frames
// never change is the copy baseline's from the first tens of steps, where the plain model is
// still far from it; the gate's gradient reaches its weights; the options need parallel
// decoding and say so.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dynamics/dynamics_test_support.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/token_baselines.h"
#include "test_support.h"

namespace wm::dynamics {
namespace {

DynamicsOptions copy_options(bool copy) {
  DynamicsOptions o = small_dynamics_options();
  o.vocab_size = 64;  // copying is worth log2(64) = 6 bits a token here
  o.decoding = Decoding::kParallel;
  o.previous_frame_input = copy;
  o.copy_gate = copy;
  return o;
}

// Windows of a still world: each window's first frame, random, repeated at every step.
DynamicsBatch still_batch(const DynamicsOptions& o, int64_t batch, uint64_t seed) {
  DynamicsBatch b = shifting_batch(o, batch, seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  b.tokens = torch::randint(0, o.vocab_size, {batch, 1, o.tokens_per_frame}, gen, torch::kInt64).expand({batch, o.context_steps, o.tokens_per_frame}).contiguous();
  return b;
}

double held_out_bits_after(bool copy, int64_t steps) {
  torch::manual_seed(0);
  const DynamicsOptions o = copy_options(copy);
  DynamicsTrainOptions t = shifting_world_training();
  t.warmup_steps = 5;
  DynamicsTrainer trainer(WorldModel(o), t, c10::Device(c10::kCPU), core::Precision::kFp32);
  for (int64_t step = 0; step < steps; ++step) trainer.train_step(still_batch(o, t.batch_size, 100 + step));
  return scalar_named(trainer.evaluate({still_batch(o, 64, 1)}), "dynamics/holdout_next_frame_bits");
}

TEST(CopyPath, AStillWorldReachesTheCopyBaselineInTensOfStepsWhereThePlainModelDoesNot) {
  // The copy baseline on a still world: every token is the previous one, ~0 bits.
  TokenBaselineFit fit(64);
  fit.add_training(still_batch(copy_options(true), 32, 7));
  const double copy_bits = fit.evaluate({still_batch(copy_options(true), 64, 1)}).copy_bits;
  EXPECT_LT(copy_bits, 1e-3);
  const double with_copy = held_out_bits_after(true, 40), plain = held_out_bits_after(false, 40);
  EXPECT_LT(with_copy, copy_bits + 0.1) << "the copy path after 40 steps";
  EXPECT_GT(plain, 1.0) << "the plain model after the same 40 steps";
}

TEST(CopyPath, TheGatesGradientReachesItsWeightsTheBiasAndThePreviousTokenEmbedding) {
  torch::manual_seed(1);
  WorldModel model(copy_options(true));
  const DynamicsBatch b = shifting_batch(model->options(), 4, 2);
  model->compute_loss(b).total.backward();
  auto params = model->named_parameters();
  for (const char* name : {"copy_gate.weight", "copy_gate.bias", "copy_gate_bias.weight", "previous_token_embedding.weight"}) {
    ASSERT_TRUE(params.contains(name)) << name;
    EXPECT_GT(params[name].grad().abs().sum().item<double>(), 0.0) << name;
  }
}

TEST(CopyPath, TheMixtureIsADistributionWithTheGatesMassOnThePreviousToken) {
  torch::manual_seed(2);
  WorldModel model(copy_options(true));
  model->eval();
  const DynamicsBatch b = shifting_batch(model->options(), 2, 3);
  torch::NoGradGuard no_grad;
  const torch::Tensor scores = model->forward_parallel(b.tokens, b.actions);  // [2, L - 1, K, V]
  const torch::Tensor probabilities = scores.exp();
  EXPECT_TRUE(torch::allclose(probabilities.sum(-1), torch::ones_like(probabilities.sum(-1)), 1e-5, 1e-5));
  // At the start the gate is even: the previous token holds half the mass, plus its share
  // of the softmax's half.
  const torch::Tensor previous = b.tokens.narrow(1, 0, b.tokens.size(1) - 1).unsqueeze(-1);
  EXPECT_GT(probabilities.gather(-1, previous).min().item<double>(), 0.5);
  EXPECT_LT(probabilities.gather(-1, previous).max().item<double>(), 0.6);
}

TEST(CopyPath, NeedsParallelDecodingAndSaysWhichKey) {
  DynamicsOptions o = copy_options(true);
  o.decoding = Decoding::kAutoregressive;
  EXPECT_NE(test::error_of([&] { o.validate(); }).find("copy_gate needs decoding: parallel"), std::string::npos);
  o.copy_gate = false;
  EXPECT_NE(test::error_of([&] { o.validate(); }).find("previous_frame_input needs decoding: parallel"), std::string::npos);
}

}  // namespace
}  // namespace wm::dynamics
