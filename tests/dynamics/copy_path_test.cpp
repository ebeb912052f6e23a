// The copy path (dynamics.previous_frame_input, dynamics.copy_gate), in both decoding modes:
// a world where frames never change is the copy baseline's from the first tens of steps, where
// the plain model is still far from it; the gate's gradient reaches its weights; with the same
// gate both modes give the same distribution; token-by-token dreams are the full pass's; with
// copy_radius the neighbours are candidates, and a scrolling world is learned in tens of steps;
// with copy_history the same place in older frames is, and a flickering world is.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <iostream>

#include "core/checkpoint.h"
#include "dynamics/dynamics_checkpoint.h"
#include "dynamics/dynamics_test_support.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/token_baselines.h"
#include "test_support.h"

namespace wm::dynamics {
namespace {

DynamicsOptions copy_options(bool copy, Decoding decoding = Decoding::kParallel) {
  DynamicsOptions o = small_dynamics_options();
  o.vocab_size = 64;  // copying is worth log2(64) = 6 bits a token here
  o.decoding = decoding;
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

const char* mode_name(Decoding d) { return d == Decoding::kParallel ? "parallel" : "token by token"; }

double held_out_bits_after(bool copy, Decoding decoding, int64_t steps) {
  torch::manual_seed(0);
  const DynamicsOptions o = copy_options(copy, decoding);
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
  for (Decoding decoding : {Decoding::kParallel, Decoding::kAutoregressive}) {
    SCOPED_TRACE(mode_name(decoding));
    const double with_copy = held_out_bits_after(true, decoding, 40), plain = held_out_bits_after(false, decoding, 40);
    EXPECT_LT(with_copy, copy_bits + 0.1) << "the copy path after 40 steps";
    EXPECT_GT(plain, 1.0) << "the plain model after the same 40 steps";
  }
}

TEST(CopyPath, TheGatesGradientReachesItsWeightsTheBiasAndThePreviousTokenEmbedding) {
  for (Decoding decoding : {Decoding::kParallel, Decoding::kAutoregressive}) {
    SCOPED_TRACE(mode_name(decoding));
    torch::manual_seed(1);
    WorldModel model(copy_options(true, decoding));
    const DynamicsBatch b = shifting_batch(model->options(), 4, 2);
    model->compute_loss(b).total.backward();
    auto params = model->named_parameters();
    for (const char* name : {"copy_gate.weight", "copy_gate.bias", "copy_gate_bias.weight", "previous_token_embedding.weight"}) {
      ASSERT_TRUE(params.contains(name)) << name;
      EXPECT_GT(params[name].grad().abs().sum().item<double>(), 0.0) << name;
    }
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
  // Without a previous token (a window's first frame) the gate is shut: the plain softmax.
  const torch::Tensor hidden = torch::randn({3, model->options().width});
  const torch::Tensor none = torch::full({3, model->options().tokens_per_frame}, -1, torch::kInt64), places = torch::tensor({0, 1, 3}, torch::kInt64);
  EXPECT_TRUE(torch::allclose(model->token_scores(hidden, none, places), torch::log_softmax(model->token_logits(hidden), -1), 1e-6, 1e-6));
}

// A model of `o` in eval mode whose softmax is uniform and whose every copy gate is `gate`,
// whatever the hidden state.
WorldModel fixed_gate_model(const DynamicsOptions& o, double gate) {
  torch::manual_seed(3);
  WorldModel model(o);
  model->eval();
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  params["token_head.weight"].zero_();
  params["copy_gate.weight"].zero_();
  params["copy_gate.bias"].zero_();
  params["copy_gate_bias.weight"].fill_(gate);
  return model;
}

// Uniform softmax, the same-place gate fixed at g: every next-frame token, in either decoding
// mode, is (1 - g) / V + g [v == the previous frame's token there].
WorldModel fixed_gate_model(Decoding decoding, double g) { return fixed_gate_model(copy_options(true, decoding), std::log(g / (1 - g))); }

TEST(CopyPath, BothDecodingModesGiveTheSameDistributionForTheSameGate) {
  const double g = 0.9;
  const DynamicsOptions o = copy_options(true);
  const int64_t B = 2, L = o.context_steps, K = o.tokens_per_frame, V = o.vocab_size;
  const DynamicsBatch b = shifting_batch(o, B, 4);
  const torch::Tensor previous = b.tokens.narrow(1, 0, L - 1);  // [B, L - 1, K]: the frame before frames 2..L
  const torch::Tensor expected = ((1 - g) / V + g * torch::one_hot(previous, V).to(torch::kFloat32));  // [B, L - 1, K, V]
  torch::NoGradGuard no_grad;

  const torch::Tensor parallel = fixed_gate_model(Decoding::kParallel, g)->forward_parallel(b.tokens, b.actions).exp();
  // Token by token: frame s's token j (s >= 1) is predicted at row j - 1 of step s, token 0 at
  // the action row of step s - 1.
  const torch::Tensor rows = fixed_gate_model(Decoding::kAutoregressive, g)->forward(b.tokens, b.actions).exp().view({B, L, K + 1, V});
  const torch::Tensor token_by_token =
      torch::cat({rows.narrow(1, 0, L - 1).narrow(2, K, 1), rows.narrow(1, 1, L - 1).narrow(2, 0, K - 1)}, 2);  // [B, L - 1, K, V]
  EXPECT_TRUE(torch::allclose(parallel, expected, 1e-5, 1e-6)) << (parallel - expected).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(token_by_token, expected, 1e-5, 1e-6)) << (token_by_token - expected).abs().max().item<double>();
  // The first frame has no frame before it: its token-by-token predictions are the plain (uniform) softmax.
  const torch::Tensor first = rows.select(1, 0).narrow(1, 0, K - 1);
  EXPECT_TRUE(torch::allclose(first, torch::full_like(first, 1.0 / V), 1e-5, 1e-7));
}

// Greedy token-by-token dreams with the copy path, past a cache rebuild: each frame is the
// full pass's argmax over the window the cache holds (the rows read the previous frame and
// the gate mixes it in, in the cache as in the full pass).
TEST(CopyPath, GreedyTokenByTokenDreamsAreTheFullPassArgmax) {
  for (int64_t radius : {0, 1})
  for (int64_t history : {0, 2}) {
  SCOPED_TRACE("copy_radius " + std::to_string(radius) + ", copy_history " + std::to_string(history));
  torch::manual_seed(5);
  DynamicsOptions o = small_dynamics_options();
  o.previous_frame_input = o.copy_gate = true;
  o.grid_height = o.grid_width = 2;
  o.copy_radius = radius;
  o.copy_history = history;
  WorldModel model(o);
  model->eval();
  {
    // A gate away from 1/2 and varying with the hidden state, so mixing matters to the argmax.
    torch::NoGradGuard no_grad;
    model->named_parameters()["copy_gate.weight"].normal_(0.0, 0.5);
  }
  const int64_t rebuilds = follow_greedy_dream(model, shifting_batch(o, 3, 6), 8, [&](int64_t step, const torch::Tensor& tokens,
                                                                                      const torch::Tensor& actions, const torch::Tensor& dreamed) {
    SCOPED_TRACE("step " + std::to_string(step));
    expect_token_by_token_argmax(model, tokens, actions, dreamed);
  });
  EXPECT_EQ(rebuilds, 2);
  }
}

// With copy_radius 1 on a 2x2 grid, place 0's candidates are the previous frame's places 0
// (itself), 1 (right), 2 (below) and 3 (diagonal); the five places outside the grid get no
// weight. Equal gates and a uniform softmax: each of the 4 candidates and the softmax 1/5,
// and candidates naming the same token add up — in both decoding modes.
TEST(CopyPath, NeighbourCandidatesShareTheMassAndTheGridsBorderHasNone) {
  const int64_t V = 64;
  for (Decoding decoding : {Decoding::kParallel, Decoding::kAutoregressive}) {
    SCOPED_TRACE(mode_name(decoding));
    DynamicsOptions o = copy_options(true, decoding);
    o.grid_height = o.grid_width = 2;
    o.copy_radius = 1;
    WorldModel model = fixed_gate_model(o, 0.0);
    torch::NoGradGuard no_grad;
    const torch::Tensor previous = torch::tensor({{5, 5, 7, 9}}, torch::kInt64);  // [1, K]: places 0 and 1 hold the same token
    const torch::Tensor scores = model->token_scores(torch::zeros({1, o.width}), previous, torch::zeros({1}, torch::kInt64)).exp()[0];
    EXPECT_NEAR(scores[5].item<double>(), 1.0 / (5 * V) + 2.0 / 5, 1e-6);
    EXPECT_NEAR(scores[7].item<double>(), 1.0 / (5 * V) + 1.0 / 5, 1e-6);
    EXPECT_NEAR(scores[9].item<double>(), 1.0 / (5 * V) + 1.0 / 5, 1e-6);
    EXPECT_NEAR(scores[0].item<double>(), 1.0 / (5 * V), 1e-7);
    EXPECT_NEAR(scores.sum().item<double>(), 1.0, 1e-5);
    // Place 3 (bottom right) sees 0, 1, 2 and itself: 9 is its own token.
    const torch::Tensor corner = model->token_scores(torch::zeros({1, o.width}), previous, torch::full({1}, 3, torch::kInt64)).exp()[0];
    EXPECT_NEAR(corner[9].item<double>(), 1.0 / (5 * V) + 1.0 / 5, 1e-6);
    EXPECT_NEAR(corner[5].item<double>(), 1.0 / (5 * V) + 2.0 / 5, 1e-6);
  }
  DynamicsOptions no_grid = copy_options(true);
  no_grid.copy_radius = 1;
  EXPECT_NE(test::error_of([&] { no_grid.validate(); }).find("copy_radius 1 needs the token grid"), std::string::npos);
  no_grid.copy_gate = false;
  EXPECT_NE(test::error_of([&] { no_grid.validate(); }).find("copy_radius 1 needs copy_gate: true"), std::string::npos);
}

// A world that scrolls: every frame is the previous one moved a place left or right (the
// action says which). Same-place copying is right only by chance; copying from a neighbour
// is right everywhere but at the two ends, where the grid wraps. After the same 60 steps the
// neighbour copy path is far ahead.
// A model of `o` trained `steps` steps on batches of `world` -> its held-out next-frame bits/token.
using World = std::function<DynamicsBatch(const DynamicsOptions&, int64_t batch, uint64_t seed)>;
double bits_after_training(const DynamicsOptions& o, const World& world, int64_t steps) {
  torch::manual_seed(0);
  DynamicsTrainOptions t = shifting_world_training();
  t.warmup_steps = 5;
  DynamicsTrainer trainer(WorldModel(o), t, c10::Device(c10::kCPU), core::Precision::kFp32);
  for (int64_t step = 0; step < steps; ++step) trainer.train_step(world(o, t.batch_size, 100 + step));
  return scalar_named(trainer.evaluate({world(o, 64, 1)}), "dynamics/holdout_next_frame_bits");
}

double scrolling_world_bits(int64_t radius, Decoding decoding) {
  DynamicsOptions o = copy_options(true, decoding);
  o.tokens_per_frame = 8;
  o.grid_height = 1;
  o.grid_width = 8;
  o.copy_radius = radius;
  return bits_after_training(o, [](const DynamicsOptions& w, int64_t batch, uint64_t seed) { return shifting_batch(w, batch, seed); }, 60);
}

TEST(CopyPath, NeighboursAsCandidatesLearnAScrollingWorldInTensOfSteps) {
  for (Decoding decoding : {Decoding::kParallel, Decoding::kAutoregressive}) {
    SCOPED_TRACE(mode_name(decoding));
    const double neighbours = scrolling_world_bits(1, decoding), same_place = scrolling_world_bits(0, decoding);
    std::cout << mode_name(decoding) << ": " << neighbours << " bits/token with neighbours, " << same_place << " with the same place only\n";
    EXPECT_LT(neighbours, same_place - 1.0);
  }
}

// The copy path reads the previous frame place by place: a checkpoint trained on 2x2 grids
// refuses data of 4x1 grids (same K) in one line naming both, when loaded and when resumed;
// a plain model does not care.
TEST(CopyPath, ACheckpointOfAnotherGridIsOneLineNamingBothGrids) {
  test::TempDir dir;
  for (bool copy : {true, false}) {
    DynamicsOptions o = copy_options(copy);
    o.grid_height = 2;
    o.grid_width = 2;
    WorldModel model(o);
    core::CheckpointWriter writer;
    add_dynamics(writer, model);
    writer.save(dir / "d.ckpt");
    DynamicsOptions data = o;
    data.grid_height = 4;
    data.grid_width = 1;
    const std::string loading = test::error_of([&] { load_dynamics(dir / "d.ckpt", c10::Device(c10::kCPU), &data); });
    DynamicsTrainer trainer(WorldModel(data), shifting_world_training(), c10::Device(c10::kCPU), core::Precision::kFp32);
    const std::string resuming = test::error_of([&] { trainer.restore(core::Checkpoint::load(dir / "d.ckpt")); });
    if (copy) {
      for (const std::string& error : {loading, resuming}) {
        EXPECT_NE(error.find("d.ckpt reads the previous frame place by place (the copy path) on 2x2 token grids, but the data's grid is 4x1"),
                  std::string::npos)
            << error;
      }
    } else {
      EXPECT_EQ(loading, "");
    }
  }
  DynamicsOptions wrong = copy_options(true);
  wrong.grid_height = 3;
  wrong.grid_width = 3;
  EXPECT_NE(test::error_of([&] { wrong.validate(); }).find("grid 3x3 does not hold tokens_per_frame 4 tokens"), std::string::npos);
}

// With copy_history 2, frame s's token at a place has as candidates frame s - 1's token there
// and frames s - 2 and s - 3's, those that the window holds. Equal gates and a uniform
// softmax: each present candidate and the softmax share the mass equally — the same in both
// decoding modes, the window's first frames with fewer candidates.
TEST(CopyPath, OlderFramesAtThePlaceAreCandidatesWhereTheWindowHoldsThem) {
  const int64_t H = 2;
  DynamicsOptions o = copy_options(true);
  o.copy_history = H;
  const int64_t B = 2, L = o.context_steps, K = o.tokens_per_frame, V = o.vocab_size;
  const DynamicsBatch b = shifting_batch(o, B, 8);
  // [B, L - 1, K, V]: the expected distribution of frames 1..L-1.
  std::vector<torch::Tensor> frames;
  for (int64_t s = 1; s < L; ++s) {
    const int64_t present = 1 + std::min(H, s - 1);  // the previous frame and the older ones in the window
    torch::Tensor mass = torch::full({B, K, V}, 1.0 / ((present + 1) * V));
    for (int64_t back = 1; back <= present; ++back) mass += torch::one_hot(b.tokens.select(1, s - back), V).to(torch::kFloat32) / (present + 1);
    frames.push_back(mass);
  }
  const torch::Tensor expected = torch::stack(frames, 1);
  torch::NoGradGuard no_grad;
  o.decoding = Decoding::kParallel;
  const torch::Tensor parallel = fixed_gate_model(o, 0.0)->forward_parallel(b.tokens, b.actions).exp();
  o.decoding = Decoding::kAutoregressive;
  const torch::Tensor rows = fixed_gate_model(o, 0.0)->forward(b.tokens, b.actions).exp().view({B, L, K + 1, V});
  const torch::Tensor token_by_token =
      torch::cat({rows.narrow(1, 0, L - 1).narrow(2, K, 1), rows.narrow(1, 1, L - 1).narrow(2, 0, K - 1)}, 2);  // [B, L - 1, K, V]
  EXPECT_TRUE(torch::allclose(parallel, expected, 1e-5, 1e-6)) << (parallel - expected).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(token_by_token, expected, 1e-5, 1e-6)) << (token_by_token - expected).abs().max().item<double>();

  DynamicsOptions bad = copy_options(true);
  bad.copy_history = L - 1;
  EXPECT_NE(test::error_of([&] { bad.validate(); }).find("copy_history 5 exceeds context_steps - 2 = 4"), std::string::npos);
  bad.copy_history = -1;
  EXPECT_NE(test::error_of([&] { bad.validate(); }).find("copy_history -1 is negative"), std::string::npos);
  bad = copy_options(false);
  bad.copy_history = 1;
  EXPECT_NE(test::error_of([&] { bad.validate(); }).find("copy_history 1 needs copy_gate: true"), std::string::npos);
  // Scores asked for without the older tokens: one line naming the shape wanted.
  o.decoding = Decoding::kParallel;
  WorldModel model(o);
  const std::string missing = test::error_of([&] { model->next_frame_logits(torch::zeros({1, K, o.width}), b.tokens.select(1, 0).narrow(0, 0, 1)); });
  EXPECT_NE(missing.find("copy_history needs each prediction's earlier tokens at its place [1, 4, 2], got none"), std::string::npos) << "[" << missing << "]";
}

// A world that flickers: every window alternates between two random frames, A B A B ...
// From frame 2 on, copying the previous frame is always wrong; copying the frame before it
// is always right.
DynamicsBatch flickering_batch(const DynamicsOptions& o, int64_t batch, uint64_t seed) {
  DynamicsBatch b = shifting_batch(o, batch, seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor pair = torch::randint(0, o.vocab_size, {batch, 2, o.tokens_per_frame}, gen, torch::kInt64);
  for (int64_t s = 0; s < o.context_steps; ++s) b.tokens.select(1, s).copy_(pair.select(1, s % 2));
  return b;
}

double flickering_world_bits(int64_t history, Decoding decoding) {
  DynamicsOptions o = copy_options(true, decoding);
  o.copy_history = history;
  return bits_after_training(o, flickering_batch, 40);
}

TEST(CopyPath, OlderFramesAsCandidatesLearnAFlickeringWorldInTensOfSteps) {
  for (Decoding decoding : {Decoding::kParallel, Decoding::kAutoregressive}) {
    SCOPED_TRACE(mode_name(decoding));
    const double older = flickering_world_bits(1, decoding), previous_only = flickering_world_bits(0, decoding);
    std::cout << mode_name(decoding) << ": " << older << " bits/token with the frame before the previous, " << previous_only
              << " with the previous frame only\n";
    // Frame 1 of each window has no frame before the previous one: a fresh random frame,
    // log2 V bits a token whatever the model; frames 2..L-1 are copies of the frame before.
    const DynamicsOptions o = copy_options(true, decoding);
    const double floor = std::log2(static_cast<double>(o.vocab_size)) / static_cast<double>(o.context_steps - 1);
    EXPECT_LT(older, floor + 0.15);
    EXPECT_LT(older, previous_only - 1.0);
  }
}

}  // namespace
}  // namespace wm::dynamics
