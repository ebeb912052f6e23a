#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>

#include "core/checkpoint.h"
#include "core/error.h"
#include "dynamics/dynamics_checkpoint.h"
#include "dynamics/dynamics_test_support.h"
#include "dynamics/imagination.h"
#include "dynamics/reward_encoding.h"
#include "dynamics/token_baselines.h"
#include "test_support.h"

namespace wm::dynamics {
namespace {

WorldModel small_model(bool continuous = false, uint64_t seed = 0, bool rotary = true) {
  torch::manual_seed(seed);
  DynamicsOptions options = small_dynamics_options(continuous);
  options.rotary = rotary;
  WorldModel model(options);
  model->eval();
  return model;
}

TEST(WorldModel, ChangingALaterTokenNeverChangesEarlierLogits) {
  for (bool rotary : {false, true}) {
  SCOPED_TRACE(rotary ? "rotary" : "learned positions only");
  WorldModel model = small_model(false, 0, rotary);
  const DynamicsBatch b = shifting_batch(model->options(), 2, 1);
  const auto K = model->options().tokens_per_frame;
  torch::NoGradGuard no_grad;
  const torch::Tensor before = model->forward(b.tokens, b.actions);  // [B, L*(K+1), V]
  torch::Tensor tokens = b.tokens.clone(), actions = b.actions.clone();
  tokens[0][3][2] = (tokens[0][3][2] + 1) % 8;  // position 3 * (K + 1) + 2 = 17
  actions[1][4] = 1 - actions[1][4];             // position 4 * (K + 1) + K = 24
  const torch::Tensor after = model->forward(tokens, actions);
  const int64_t changed_token = 3 * (K + 1) + 2, changed_action = 4 * (K + 1) + K;
  EXPECT_TRUE(torch::equal(after[0].narrow(0, 0, changed_token), before[0].narrow(0, 0, changed_token)));
  EXPECT_TRUE(torch::equal(after[1].narrow(0, 0, changed_action), before[1].narrow(0, 0, changed_action)));
  // ... and the change does reach the positions after it.
  EXPECT_FALSE(torch::allclose(after[0].narrow(0, changed_token, 3), before[0].narrow(0, changed_token, 3)));
  EXPECT_FALSE(torch::allclose(after[1].narrow(0, changed_action, 3), before[1].narrow(0, changed_action, 3)));
  }
}

TEST(WorldModel, RotaryEmbeddingChangesWhatAttentionSees) {
  // Same weights (same seed), positions rotated or not: the logits differ, except at the
  // first position, which attends only to itself.
  WorldModel plain = small_model(false, 12, /*rotary=*/false), rotary = small_model(false, 12, /*rotary=*/true);
  const DynamicsBatch b = shifting_batch(plain->options(), 2, 13);
  torch::NoGradGuard no_grad;
  const torch::Tensor a = plain->forward(b.tokens, b.actions), r = rotary->forward(b.tokens, b.actions);
  EXPECT_TRUE(torch::allclose(a.select(1, 0), r.select(1, 0), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 1, a.size(1) - 1), r.narrow(1, 1, r.size(1) - 1), 1e-3, 1e-3));
}

// The cache must give the full pass's logits at every position, whether positions arrive
// one by one or in chunks, for several sequences at once.
TEST(WorldModel, KvCachedDecodingMatchesTheFullForwardPass) {
  for (bool continuous : {false, true})
  for (bool rotary : {false, true}) {
    WorldModel model = small_model(continuous, 3, rotary);
    const DynamicsBatch b = shifting_batch(model->options(), 3, 2);
    torch::NoGradGuard no_grad;
    const torch::Tensor full = model->forward(b.tokens, b.actions);  // [3, 30, V]
    const torch::Tensor x = model->embed_steps(b.tokens, b.actions, 0);
    const int64_t T = x.size(1);
    for (int64_t chunk : {1, 7}) {
      KVCache cache = model->make_cache(3);
      for (int64_t start = 0; start < T; start += chunk) {
        const int64_t n = std::min(chunk, T - start);
        const torch::Tensor logits = model->token_logits(model->transform(x.narrow(1, start, n), &cache));
        EXPECT_TRUE(torch::allclose(logits, full.narrow(1, start, n), 1e-4, 1e-4))
            << "continuous " << continuous << ", rotary " << rotary << ", chunk " << chunk << ", positions " << start << ".." << start + n
            << ", max difference " << (logits - full.narrow(1, start, n)).abs().max().item<double>();
      }
      EXPECT_EQ(cache.length(), T);
    }
  }
}

TEST(Imagination, GreedyStepsAreWhatTheFullModelPredicts) {
  WorldModel model = small_model(false, 4);
  const auto& o = model->options();
  const DynamicsBatch b = shifting_batch(o, 2, 5);
  Imagination dream(model, 2, {.temperature = 0.0});
  dream.reset(b.tokens.narrow(1, 0, 2), b.actions.narrow(1, 0, 1));
  const ImaginedStep first = dream.step(b.actions.select(1, 1));
  const ImaginedStep second = dream.step(b.actions.select(1, 2));
  EXPECT_EQ(first.tokens.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(first.rewards.sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(dream.steps_in_cache(), 4);

  // Rebuild the sequence with the imagined frames: the full pass's argmax at each predicting
  // position must be the token imagination chose.
  torch::Tensor tokens = b.tokens.narrow(1, 0, 4).clone();
  tokens.select(1, 2).copy_(first.tokens);
  tokens.select(1, 3).copy_(second.tokens);
  torch::NoGradGuard no_grad;
  const torch::Tensor predicted = model->forward(tokens, b.actions.narrow(1, 0, 4)).argmax(-1);  // [B, 4*(K+1)]
  const int64_t P = o.positions_per_step(), K = o.tokens_per_frame;
  for (int64_t step = 2; step <= 3; ++step) {
    EXPECT_TRUE(torch::equal(predicted.select(1, (step - 1) * P + K), tokens.select(1, step).select(1, 0))) << step;
    for (int64_t j = 1; j < K; ++j) EXPECT_TRUE(torch::equal(predicted.select(1, step * P + j - 1), tokens.select(1, step).select(1, j)));
  }
}

TEST(Imagination, RunsPastTheContextByRebuildingTheCache) {
  WorldModel model = small_model(true, 6);
  const DynamicsBatch b = shifting_batch(model->options(), 3, 7);
  Imagination dream(model, 3, {.temperature = 1.0, .top_k = 3});
  dream.reset(b.tokens.narrow(1, 0, 5), b.actions.narrow(1, 0, 4));
  for (int step = 0; step < 12; ++step) {  // L = 6: rebuilt several times
    const ImaginedStep s = dream.step(b.actions.select(1, step % 6));
    EXPECT_LE(dream.steps_in_cache(), model->options().context_steps);
    EXPECT_TRUE((s.tokens >= 0).all().item<bool>() && (s.tokens < 8).all().item<bool>());
  }
}

// Greedy token-by-token dreams of the plain model past two cache rebuilds: each frame is the
// full pass's argmax over the window the cache holds at that moment.
TEST(Imagination, GreedyDreamsAreTheFullPassArgmaxAcrossCacheRebuilds) {
  for (bool continuous : {false, true})
  for (bool rotary : {false, true}) {
    SCOPED_TRACE(std::string(continuous ? "continuous" : "discrete") + (rotary ? ", rotary" : ", learned positions only"));
    WorldModel model = small_model(continuous, 10, rotary);  // L = 6: rebuilt from the last 3 steps
    const int64_t rebuilds = follow_greedy_dream(model, shifting_batch(model->options(), 3, 11), 10,
                                                 [&](int64_t step, const torch::Tensor& tokens, const torch::Tensor& actions,
                                                     const torch::Tensor& dreamed) {
                                                   SCOPED_TRACE("step " + std::to_string(step));
                                                   expect_token_by_token_argmax(model, tokens, actions, dreamed);
                                                 });
    EXPECT_EQ(rebuilds, 2);
  }
}

// top_k 3 at a high temperature: every dreamed token is among the 3 most likely at its
// position in the full pass over the dreamed sequence, and many are not the most likely one;
// top_k 1 is the argmax whatever the temperature.
TEST(Imagination, TopKSamplesOnlyAmongTheKMostLikely) {
  WorldModel model = small_model(false, 8);
  const auto& o = model->options();
  const int64_t B = 64, K = o.tokens_per_frame, P = o.positions_per_step();
  const DynamicsBatch b = shifting_batch(o, B, 9);
  Imagination dream(model, B, {.temperature = 5.0, .top_k = 3, .seed = 1});
  dream.reset(b.tokens.narrow(1, 0, 1), b.actions.narrow(1, 0, 0));
  torch::Tensor tokens = b.tokens.narrow(1, 0, 3).clone();  // [B, 3, K]: frames 1 and 2 dreamed
  tokens.select(1, 1).copy_(dream.step(b.actions.select(1, 0)).tokens);
  tokens.select(1, 2).copy_(dream.step(b.actions.select(1, 1)).tokens);
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = model->forward(tokens, b.actions.narrow(1, 0, 3));  // [B, 3 * P, V]
  const torch::Tensor third_largest = std::get<0>(logits.topk(3, -1)).select(-1, 2), most_likely = logits.argmax(-1);  // [B, 3 * P]
  int64_t not_most_likely = 0;
  for (int64_t step = 1; step <= 2; ++step) {
    for (int64_t j = 0; j < K; ++j) {
      const int64_t position = j == 0 ? (step - 1) * P + K : step * P + j - 1;  // where token j of the frame is predicted
      const torch::Tensor chosen = tokens.select(1, step).select(1, j);          // [B]
      const torch::Tensor chosen_logit = logits.select(1, position).gather(1, chosen.unsqueeze(1)).squeeze(1);
      // 1e-4: the cached pass and the full pass differ in rounding, not in rank.
      EXPECT_TRUE((chosen_logit >= third_largest.select(1, position) - 1e-4).all().item<bool>()) << "frame " << step << ", token " << j;
      not_most_likely += (chosen != most_likely.select(1, position)).sum().item<int64_t>();
    }
  }
  EXPECT_GT(not_most_likely, B * 2 * K / 4) << "at temperature 5 the second and third most likely are drawn often";

  Imagination greedy(model, B, {.temperature = 0.0}), top1(model, B, {.temperature = 5.0, .top_k = 1});
  greedy.reset(b.tokens.narrow(1, 0, 1), b.actions.narrow(1, 0, 0));
  top1.reset(b.tokens.narrow(1, 0, 1), b.actions.narrow(1, 0, 0));
  EXPECT_TRUE(torch::equal(greedy.step(b.actions.select(1, 0)).tokens, top1.step(b.actions.select(1, 0)).tokens));
}

// dynamics.attention_dropout acts on the attention probabilities alone: with both dropouts
// at 0 a training-mode pass is deterministic; attention dropout alone makes two passes differ,
// and in eval mode it is off again. Out-of-range values are refused naming the key.
TEST(WorldModel, AttentionDropoutIsItsOwnKnob) {
  torch::manual_seed(5);
  DynamicsOptions options = small_dynamics_options(false);
  const DynamicsBatch b = shifting_batch(options, 2, 1);
  auto two_passes_equal = [&](WorldModel& model) {
    torch::NoGradGuard no_grad;
    return torch::equal(model->forward(b.tokens, b.actions), model->forward(b.tokens, b.actions));
  };
  WorldModel plain(options);
  plain->train();
  EXPECT_TRUE(two_passes_equal(plain));
  options.attention_dropout = 0.5;
  WorldModel dropping(options);
  dropping->train();
  EXPECT_FALSE(two_passes_equal(dropping));
  dropping->eval();
  EXPECT_TRUE(two_passes_equal(dropping));
  options.attention_dropout = 1.0;
  EXPECT_NE(test::error_of([&] { options.validate(); }).find("attention_dropout 1.000000 is outside [0, 1)"), std::string::npos);
}

// A model left in training mode (dropout 0.5 here) dreams without dropout, the same dream as
// in eval mode, and is handed back in training mode.
TEST(Imagination, DreamsInEvalModeAndGivesTheModelsModeBack) {
  torch::manual_seed(3);
  DynamicsOptions options = small_dynamics_options(false);
  options.dropout = 0.5;
  WorldModel model(options);
  const DynamicsBatch b = shifting_batch(options, 4, 2);
  auto greedy_dream = [&] {
    Imagination dream(model, 4, {.temperature = 0.0});
    dream.reset(b.tokens.narrow(1, 0, 2), b.actions.narrow(1, 0, 1));
    return dream.step(b.actions.select(1, 1));
  };
  model->train();
  const ImaginedStep in_training = greedy_dream();
  EXPECT_TRUE(model->is_training());
  model->eval();
  const ImaginedStep in_eval = greedy_dream();
  EXPECT_FALSE(model->is_training());
  EXPECT_TRUE(torch::equal(in_training.tokens, in_eval.tokens));
  EXPECT_TRUE(torch::equal(in_training.rewards, in_eval.rewards));
  EXPECT_TRUE(torch::equal(in_training.done_probs, in_eval.done_probs));
}

// A policy's loss saves imagined rewards and embeds imagined tokens for backward.
TEST(Imagination, ItsOutputsCanBeSavedForBackward) {
  WorldModel model = small_model();
  const DynamicsBatch b = shifting_batch(model->options(), 2, 4);
  Imagination dream(model, 2);
  dream.reset(b.tokens.narrow(1, 0, 1), b.actions.narrow(1, 0, 0));
  const ImaginedStep s = dream.step(b.actions.select(1, 0));
  EXPECT_FALSE(s.tokens.is_inference());
  EXPECT_FALSE(s.rewards.is_inference());
  const torch::Tensor value = torch::ones({2}, torch::requires_grad());
  const torch::Tensor table = torch::randn({model->options().vocab_size, 3}, torch::requires_grad());
  const torch::Tensor loss = (value * s.rewards).sum() + (value * s.done_probs).sum() +
                             torch::nn::functional::embedding(s.tokens, table).sum();
  loss.backward();
  EXPECT_TRUE(torch::allclose(value.grad(), s.rewards + s.done_probs));
  EXPECT_EQ(table.grad().sum().item<double>(), static_cast<double>(s.tokens.numel() * 3));
}

// The next-frame figures split by whether the token changed from the previous frame's: the
// split's shares recombine to the whole (bits and accuracy), the share of changed tokens is
// the data's, and the tally over two batches is the tokens' sum, in both decoding modes.
TEST(WorldModel, NextFrameFiguresSplitIntoChangedAndUnchangedTokens) {
  for (const Decoding decoding : {Decoding::kAutoregressive, Decoding::kParallel}) {
    torch::manual_seed(3);
    DynamicsOptions options = small_dynamics_options();
    options.decoding = decoding;
    WorldModel model(options);
    model->eval();
    DynamicsBatch b = shifting_batch(options, 3, 5, /*padded=*/1);
    // Freeze one place of every frame so both splits have tokens.
    b.tokens.select(2, 0).fill_(2);
    NextFrameTally tally;
    const core::LossTerms loss = model->compute_loss(b, &tally);
    std::map<std::string, double> logs(loss.logs.begin(), loss.logs.end());
    const double share = logs.at("next_frame_changed_share");
    EXPECT_GT(share, 0.0);
    EXPECT_LT(share, 1.0);
    EXPECT_NEAR(share * logs.at("next_frame_changed_bits") + (1 - share) * logs.at("next_frame_unchanged_bits"), logs.at("next_frame_bits"), 1e-4);
    EXPECT_NEAR(share * logs.at("next_frame_changed_accuracy") + (1 - share) * logs.at("next_frame_unchanged_accuracy"),
                logs.at("next_frame_accuracy"), 1e-6);
    // The data's own split: next-frame places (both steps real) whose token differs.
    const auto [targets, previous] = next_frame_targets(b);
    EXPECT_DOUBLE_EQ(tally.changed_count, static_cast<double>((targets != previous).sum().item<int64_t>()));
    EXPECT_DOUBLE_EQ(tally.unchanged_count, static_cast<double>((targets == previous).sum().item<int64_t>()));
    const NextFrameTally one = tally;
    model->compute_loss(b, &tally);
    EXPECT_DOUBLE_EQ(tally.changed_count, 2 * one.changed_count);
    EXPECT_NEAR(tally.figures().front().second, one.figures().front().second, 1e-9) << "the same batch twice: the same bits";
  }
}

TEST(WorldModel, BadInputsNameTheValueAndTheLimit) {
  WorldModel model = small_model();
  DynamicsBatch b = shifting_batch(model->options(), 2, 1);
  b.tokens[0][0][0] = 8;
  EXPECT_EQ(test::error_of([&] { model->compute_loss(b); }), "dynamics: token id 8 is outside the vocabulary 0..7");
  b = shifting_batch(model->options(), 2, 1);
  b.actions[1][2] = 2;
  EXPECT_EQ(test::error_of([&] { model->compute_loss(b); }), "dynamics: action 2 is outside the action space 0..1");
  const DynamicsBatch long_batch = shifting_batch([&] {
    auto o = model->options();
    o.context_steps = 7;
    return o;
  }(), 1, 1);
  EXPECT_EQ(test::error_of([&] { model->compute_loss(long_batch); }), "dynamics: 7 steps exceed the context of 6 steps");
  Imagination dream(model, 2);
  EXPECT_NE(test::error_of([&] { dream.reset(b.tokens, b.actions.narrow(1, 0, 5)); }).find("a context of 6 frames is outside 1..5"),
            std::string::npos);
}

TEST(WorldModel, CheckpointRoundTripGivesIdenticalLogitsAndRefusesAnotherShape) {
  WorldModel model = small_model(true, 10);
  test::TempDir dir;
  core::CheckpointWriter writer;
  add_dynamics(writer, model);
  writer.save(dir / "d.ckpt");
  const LoadedDynamics loaded = load_dynamics(dir / "d.ckpt", c10::Device(c10::kCPU));
  const DynamicsBatch b = shifting_batch(model->options(), 2, 11);
  torch::NoGradGuard no_grad;
  WorldModel restored = loaded.model;
  EXPECT_TRUE(torch::equal(restored->forward(b.tokens, b.actions), model->forward(b.tokens, b.actions)));

  DynamicsOptions other = model->options();
  other.vocab_size = 16;
  EXPECT_NE(test::error_of([&] { load_dynamics(dir / "d.ckpt", c10::Device(c10::kCPU), &other); })
                .find("has dynamics.vocab_size = 8, the config says 16"),
            std::string::npos);
}

TEST(RewardEncoding, TwoHotRoundTripsRewardsOfAnyScale) {
  DynamicsOptions o = small_dynamics_options();
  o.reward_head = RewardHead::kTwoHot;
  const RewardEncoding encoding(o);
  const torch::Tensor rewards = torch::tensor({0.0f, 1.0f, -3.5f, 15.0f, 0.01f});
  const torch::Tensor target = encoding.encode(rewards);  // [5, 255]
  EXPECT_TRUE(torch::allclose(target.sum(-1), torch::ones({5})));
  EXPECT_LE((target > 0).sum(-1).max().item<int64_t>(), 2);
  // Logits whose softmax is the target decode back to the reward.
  EXPECT_TRUE(torch::allclose(encoding.decode(torch::log(target + 1e-12)), rewards, 1e-3, 1e-4));

  const RewardEncoding sign(small_dynamics_options());
  EXPECT_TRUE(torch::equal(sign.encode(torch::tensor({-2.0f, 0.0f, 0.5f})).argmax(-1), torch::tensor({0, 1, 2}, torch::kInt64)));
}

}  // namespace
}  // namespace wm::dynamics
