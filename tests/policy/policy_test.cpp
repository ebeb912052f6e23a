// The policy's parts: λ-returns against a hand computation, the actor loss's direction and
// PPO's clip, the squashed Gaussian's bounds, evaluating drawn actions, re-living a
// trajectory, the shared trunk and the symlog critic, an imagined rollout's shapes, masks and
// gradients, the checkpoint round trip
// and its shape check, and the options' ranges.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "dynamics/dynamics_test_support.h"
#include "policy/imagined_rollout.h"
#include "policy/lambda_returns.h"
#include "policy/policy_checkpoint.h"
#include "test_support.h"
#include "tokenizer/tokenizer_test_support.h"

namespace wm::policy {
namespace {

PolicyOptions discrete_options(int64_t actions = 2) {
  PolicyOptions o;
  o.channels = 8, o.hidden = 16;
  o.input_channels = 16, o.input_height = 2, o.input_width = 2;
  o.num_actions = actions;
  return o;
}

TEST(LambdaReturns, MatchAHandComputationWithATermination) {
  // Two trajectories of 3 steps; the second ends at step 1.
  const torch::Tensor rewards = torch::tensor({{1.0, 0.0, 2.0}, {1.0, 1.0, 5.0}});
  const torch::Tensor continues = torch::tensor({{1.0, 1.0, 1.0}, {1.0, 0.0, 1.0}});
  const torch::Tensor values = torch::tensor({{0.5, 1.0, 2.0, 4.0}, {0.0, 3.0, 7.0, 9.0}});
  const double g = 0.9, l = 0.5;
  const torch::Tensor r = lambda_returns(rewards, continues, values, g, l);
  // Row 0, backwards from R_3 = V_3 = 4.
  const double r2 = 2.0 + g * ((1 - l) * 4.0 + l * 4.0);  // 5.6
  const double r1 = 0.0 + g * ((1 - l) * 2.0 + l * r2);   // 3.42
  const double r0 = 1.0 + g * ((1 - l) * 1.0 + l * r1);   // 2.989
  EXPECT_NEAR(r[0][2].item<double>(), r2, 1e-6);
  EXPECT_NEAR(r[0][1].item<double>(), r1, 1e-6);
  EXPECT_NEAR(r[0][0].item<double>(), r0, 1e-6);
  // Row 1: step 1 ends the episode, so R_1 = r_1 and step 2's reward of 5 never reaches R_0.
  EXPECT_NEAR(r[1][1].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(r[1][0].item<double>(), 1.0 + g * ((1 - l) * 3.0 + l * 1.0), 1e-6);
  EXPECT_THROW(lambda_returns(rewards, continues, values.narrow(1, 0, 3), g, l), core::Error);
}

TEST(ActorLoss, APositiveAdvantageRaisesTheActionsProbabilityAndANegativeOneLowersIt) {
  for (double advantage : {1.0, -1.0}) {
    torch::manual_seed(0);
    ActorCritic policy(discrete_options(3));
    const torch::Tensor inputs = torch::randn({4, 16, 2, 2}), state = policy->initial_state(4);
    auto probability_of_2 = [&] { return torch::softmax(policy->forward(inputs, state).logits, -1).select(1, 2).mean().item<double>(); };
    const double before = probability_of_2();
    torch::optim::SGD sgd(policy->parameters(), 0.5);
    const PolicyStep step = policy->forward(inputs, state);
    const torch::Tensor log_p = torch::log_softmax(step.logits, -1).select(1, 2);  // action 2 was taken
    (-(log_p * advantage).mean()).backward();
    sgd.step();
    const double after = probability_of_2();
    if (advantage > 0) EXPECT_GT(after, before + 1e-4);
    else EXPECT_LT(after, before - 1e-4);
  }
}

TEST(ActionDistribution, SquashedGaussianActionsStayInTheirBoundsAndGreedyIsTheSquashedMean) {
  PolicyOptions o = discrete_options();
  o.num_actions = 0;
  o.action_low = {-1.0, 0.0, 0.0};
  o.action_high = {1.0, 1.0, 0.5};
  PolicyStep step;
  step.mean = torch::tensor({{3.0, -0.2, 0.0}}).repeat({512, 1});
  step.log_std = torch::full({512, 3}, 0.5);
  const SampledActions s = sample_actions(step, o);
  ASSERT_EQ(s.actions.sizes(), (std::vector<int64_t>{512, 3}));
  for (int64_t a = 0; a < 3; ++a) {
    EXPECT_GE(s.actions.select(1, a).min().item<double>(), o.action_low[a]);
    EXPECT_LE(s.actions.select(1, a).max().item<double>(), o.action_high[a]);
  }
  EXPECT_TRUE(torch::isfinite(s.log_probs).all().item<bool>());
  const SampledActions greedy = sample_actions(step, o, /*greedy=*/true);
  EXPECT_NEAR(greedy.actions[0][0].item<double>(), std::tanh(3.0), 1e-6);
  EXPECT_NEAR(greedy.actions[0][1].item<double>(), (std::tanh(-0.2) + 1) / 2, 1e-6);
  EXPECT_NEAR(greedy.actions[0][2].item<double>(), 0.25, 1e-6);
  // log-density of a squashed Gaussian of 1 dimension integrates to 1 over its bounds.
  PolicyOptions one = o;
  one.action_low = {0.0};
  one.action_high = {2.0};
  PolicyStep wide;
  wide.mean = torch::full({20000, 1}, 0.3);
  wide.log_std = torch::full({20000, 1}, -0.3);
  const SampledActions draws = sample_actions(wide, one);
  // E[1 / p(a)] over draws from p is the length of the support: 2.
  EXPECT_NEAR((-draws.log_probs).exp().mean().item<double>(), 2.0, 0.1);
}

TEST(ImaginedRollout, ShapesMasksAndGradientsReachThePolicyOnly) {
  for (bool copy : {false, true}) {
  SCOPED_TRACE(copy ? "a world model with the copy path (3x3 neighbours)" : "a plain world model");
  torch::manual_seed(1);
  dynamics::DynamicsOptions wo = dynamics::small_dynamics_options();
  wo.vocab_size = 256;
  wo.previous_frame_input = wo.copy_gate = copy;
  wo.grid_height = wo.grid_width = 2;
  wo.copy_radius = copy ? 1 : 0;
  dynamics::WorldModel world(wo);
  world->eval();
  tokenizer::VQModel tok(tokenizer::small_options(8, 8));  // 2 x 2 tokens of 256
  PolicyInputs inputs(tok, PolicyInput::kTokens);
  PolicyOptions po = discrete_options();
  inputs.fit(po);
  ActorCritic policy(po);
  dynamics::Imagination dream(world, 3);
  const dynamics::DynamicsBatch b = dynamics::shifting_batch(wo, 3, 5, /*padded=*/1);
  const int64_t T = 3, H = 6;  // 6 imagined steps: past the world model's context of 6 (a rebuild)
  const ImaginedRollout r = imagine_rollout(policy, inputs, dream, b.tokens.narrow(1, 0, T), b.actions.narrow(1, 0, T - 1),
                                            b.mask.narrow(1, 0, T), H);
  EXPECT_EQ(r.actions.sizes(), (std::vector<int64_t>{3, H}));
  EXPECT_EQ(r.values.sizes(), (std::vector<int64_t>{3, H + 1}));
  EXPECT_EQ(r.tokens.sizes(), (std::vector<int64_t>{3, H + 1, 4}));
  EXPECT_TRUE(torch::equal(r.tokens.select(1, 0), b.tokens.select(1, T - 1)));
  for (const torch::Tensor& t : {r.log_probs, r.entropies, r.rewards, r.continues, r.alive}) EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, H}));
  EXPECT_TRUE(torch::equal(r.alive.select(1, 0), torch::ones({3})));
  // Continuation is the model's probability that the episode goes on (an untrained model
  // says neither 0 nor 1), and the loss weight its running product.
  EXPECT_TRUE(((r.continues > 0) & (r.continues < 1)).all().item<bool>()) << r.continues;
  for (int64_t t = 1; t < H; ++t) {
    EXPECT_TRUE(torch::allclose(r.alive.select(1, t), r.alive.select(1, t - 1) * r.continues.select(1, t - 1), 1e-6, 0));
  }
  // A later pass re-lives the dream from its recorded inputs and start state.
  ImaginedRollout again = r;
  relive(policy, again);
  EXPECT_TRUE(torch::allclose(again.log_probs, r.log_probs, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(again.values, r.values.narrow(1, 0, H), 1e-5, 1e-6));
  (r.log_probs.sum() + r.values.sum()).backward();
  for (const auto& p : policy->parameters()) EXPECT_TRUE(p.grad().defined());
  for (const auto& p : world->parameters()) EXPECT_FALSE(p.grad().defined());
  }
}

TEST(ActionDistribution, EvaluatingDrawnActionsGivesTheLogProbabilitiesTheyWereDrawnWith) {
  torch::manual_seed(2);
  PolicyStep discrete;
  discrete.logits = torch::randn({64, 5});
  const PolicyOptions d = discrete_options(5);
  const SampledActions drawn = sample_actions(discrete, d);
  const SampledActions again = evaluate_actions(discrete, d, drawn.actions);
  EXPECT_TRUE(torch::allclose(again.log_probs, drawn.log_probs, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(again.entropy, drawn.entropy, 1e-6, 1e-6));

  PolicyOptions c = discrete_options();
  c.num_actions = 0;
  c.action_low = {-1.0, 0.0};
  c.action_high = {1.0, 0.5};
  PolicyStep gaussian;
  // Half the rows saturate the squash (mean 10, spread e^2): tanh rounds to the bound in
  // float there, and a later pass must still read back the log-probability it was drawn with.
  gaussian.mean = torch::cat({torch::randn({128, 2}), torch::full({128, 2}, 10.0)});
  gaussian.log_std = torch::cat({torch::full({128, 2}, -0.5), torch::full({128, 2}, 2.0)});
  const SampledActions draws = sample_actions(gaussian, c);
  const SampledActions evaluated = evaluate_actions(gaussian, c, draws.actions);
  EXPECT_TRUE(torch::allclose(evaluated.log_probs, draws.log_probs, 1e-5, 1e-5)) << (evaluated.log_probs - draws.log_probs).abs().max();
  // An action exactly on a bound stays finite.
  const SampledActions on_bound = evaluate_actions(gaussian, c, torch::tensor({{1.0f, 0.0f}}).repeat({256, 1}));
  EXPECT_TRUE(torch::isfinite(on_bound.log_probs).all().item<bool>());
}

TEST(ActorLoss, ALaterPassStopsPushingAnActionWhoseRatioLeftTheClipRange) {
  // One step, advantage +1: the surrogate's gradient in the log-probability is the ratio
  // while the ratio is inside 1 +- clip_ratio, and zero once it has moved past 1 + clip_ratio;
  // with advantage -1 the same holds below 1 - clip_ratio.
  PolicyTrainOptions o;
  o.clip_ratio = 0.2;
  o.entropy_weight = 0;
  for (const double advantage : {1.0, -1.0}) {
    for (const double ratio : {1.0, 1.1, 1.5, 0.9, 0.5}) {
      Trajectory t;
      t.log_probs = torch::full({1, 1}, std::log(ratio) - 1.0, torch::requires_grad());
      t.entropies = torch::zeros({1, 1});
      t.values = torch::zeros({1, 2});
      t.rewards = torch::zeros({1, 1});
      t.alive = torch::ones({1, 1});
      ActorCriticTargets targets;
      targets.returns = torch::zeros({1, 1});
      targets.advantages = torch::full({1, 1}, advantage);
      targets.old_log_probs = torch::full({1, 1}, -1.0);
      actor_critic_loss(t, targets, o, PolicyOptions{}).total.backward();
      const double gradient = t.log_probs.grad().item<double>();
      const bool clipped = advantage > 0 ? ratio > 1.2 : ratio < 0.8;
      if (clipped) EXPECT_EQ(gradient, 0.0) << "advantage " << advantage << ", ratio " << ratio;
      else EXPECT_NEAR(gradient, -advantage * ratio, 1e-6) << "advantage " << advantage << ", ratio " << ratio;
    }
  }
}

TEST(Relive, ReproducesTheLivedStepsWithUnchangedWeightsAndFollowsTheStateResets) {
  torch::manual_seed(3);
  ActorCritic policy(discrete_options(3));
  {
    torch::NoGradGuard no_grad;  // away from the near-uniform, zero-value start: every output depends on the state
    for (auto& p : policy->parameters()) p.normal_(0.0, 0.3);
  }
  const int64_t B = 4, H = 5;
  // Lived as the model-free trainer lives them: the state cut where an episode ended.
  const torch::Tensor resets = torch::tensor({{1.f, 0.f, 1.f, 1.f, 1.f}, {1.f, 1.f, 1.f, 1.f, 1.f}, {0.f, 1.f, 1.f, 0.f, 1.f}, {1.f, 1.f, 1.f, 1.f, 0.f}});
  TrajectorySteps steps;
  at::Tensor state = torch::randn({B, 32});
  const at::Tensor start = state.clone();
  for (int64_t t = 0; t < H; ++t) {
    steps.inputs.push_back(torch::randn({B, 16, 2, 2}));
    const PolicyStep out = policy->forward(steps.inputs.back(), state);
    const SampledActions chosen = sample_actions(out, policy->options());
    steps.actions.push_back(chosen.actions);
    steps.log_probs.push_back(chosen.log_probs);
    steps.entropies.push_back(chosen.entropy);
    steps.values.push_back(out.value);
    steps.rewards.push_back(torch::zeros({B}));
    steps.continues.push_back(resets.select(1, t));
    state = out.state * resets.select(1, t).unsqueeze(1);
  }
  Trajectory lived = steps.stack();
  lived.start_state = start;
  lived.state_resets = resets;
  const at::Tensor log_probs = lived.log_probs.detach().clone(), values = lived.values.detach().clone();
  relive(policy, lived);
  EXPECT_TRUE(torch::allclose(lived.log_probs, log_probs, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(lived.values, values, 1e-5, 1e-6));
  // Without the resets the GRU carries the ended episodes' state on: other values.
  lived.state_resets = at::Tensor();
  relive(policy, lived);
  EXPECT_FALSE(torch::allclose(lived.values, values, 1e-3, 1e-3));
  EXPECT_FALSE(torch::allclose(lived.log_probs, log_probs, 1e-3, 1e-3));
}

TEST(ActorCritic, ASharedTrunkCarriesOneStateAndStartsAtValueZero) {
  torch::manual_seed(4);
  PolicyOptions o = discrete_options(3);
  o.shared_trunk = true;
  ActorCritic shared(o);
  const PolicyStep step = shared->forward(torch::randn({5, 16, 2, 2}), shared->initial_state(5));
  EXPECT_EQ(shared->initial_state(5).sizes(), (std::vector<int64_t>{5, 16}));  // one GRU of `hidden`
  EXPECT_EQ(step.state.sizes(), (std::vector<int64_t>{5, 16}));
  EXPECT_EQ(step.logits.sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(step.value.sizes(), (std::vector<int64_t>{5}));
  EXPECT_TRUE(torch::equal(step.value, torch::zeros({5})));
  // Every parameter is the actor's; the two-tower policy of the same size has twice as many.
  EXPECT_TRUE(shared->critic_parameters().empty());
  EXPECT_EQ(shared->actor_parameters().size(), shared->parameters().size());
  ActorCritic towers(discrete_options(3));
  EXPECT_EQ(towers->parameters().size(), 2 * shared->parameters().size());
  // The value regression reaches the trunk: the encoder's first layer gets a gradient (once
  // the value's row of the head is no longer the zero it starts at).
  {
    torch::NoGradGuard no_grad;
    for (auto& p : shared->parameters()) p.normal_(0.0, 0.3);
  }
  const PolicyStep again = shared->forward(torch::randn({5, 16, 2, 2}), shared->initial_state(5));
  (again.value - 10.0).pow(2).sum().backward();
  EXPECT_GT(shared->parameters().front().grad().abs().sum().item<double>(), 0.0);
}

TEST(SymlogValue, TheCriticRegressesInSymlogScaleAndLeavesItsZeroStart) {
  PolicyOptions o = discrete_options(2);
  o.symlog_value = true;
  // symlog(e - 1) = 1, symlog(-(e^2 - 1)) = -2: the error is taken between those.
  const double e = std::exp(1.0);
  const torch::Tensor error = value_regression_error(torch::tensor({e - 1, 0.0}), torch::tensor({-(e * e - 1), 0.0}), o);
  EXPECT_TRUE(torch::allclose(error, torch::tensor({3.0, 0.0}).to(torch::kFloat32), 1e-5, 1e-5)) << error;
  EXPECT_TRUE(torch::equal(value_regression_error(torch::tensor({5.0}), torch::tensor({2.0}), discrete_options(2)), torch::tensor({3.0})));
  // The critic starts at exactly 0, where sign(x) has no gradient: it must still learn a return of 100.
  torch::manual_seed(5);
  ActorCritic policy(o);
  torch::optim::Adam adam(policy->parameters(), torch::optim::AdamOptions(1e-2));
  const torch::Tensor inputs = torch::randn({8, 16, 2, 2});
  for (int step = 0; step < 300; ++step) {
    adam.zero_grad();
    const PolicyStep out = policy->forward(inputs, policy->initial_state(8));
    value_regression_error(out.value, torch::full({8}, 100.0), o).pow(2).mean().backward();
    adam.step();
  }
  const torch::Tensor value = policy->forward(inputs, policy->initial_state(8)).value;
  EXPECT_NEAR(value.mean().item<double>(), 100.0, 5.0) << value;
}

TEST(PolicyCheckpoint, RoundTripsAndRefusesAPolicyOfAnotherShapeNamingTheField) {
  test::TempDir dir;
  torch::manual_seed(2);
  ActorCritic policy(discrete_options(9));
  core::CheckpointWriter writer;
  add_policy(writer, policy);
  writer.save(dir / "p.ckpt");
  ActorCritic loaded = load_policy(dir / "p.ckpt", c10::Device(c10::kCPU));
  const torch::Tensor inputs = torch::randn({2, 16, 2, 2});
  policy->eval();
  EXPECT_TRUE(torch::equal(policy->forward(inputs, policy->initial_state(2)).logits, loaded->forward(inputs, loaded->initial_state(2)).logits));
  ActorCritic other(discrete_options(4));
  try {
    restore_policy(core::Checkpoint::load(dir / "p.ckpt"), other);
    ADD_FAILURE() << "a 9-action policy restored into a 4-action one";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("policy.num_actions = 9, this run has 4"), std::string::npos) << e.what();
  }
  PolicyOptions shared_options = discrete_options(9);
  shared_options.shared_trunk = true;
  ActorCritic shared(shared_options);
  try {
    restore_policy(core::Checkpoint::load(dir / "p.ckpt"), shared);
    ADD_FAILURE() << "a two-tower policy restored into a shared-trunk one";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("policy.shared_trunk = false, this run has true"), std::string::npos) << e.what();
  }
}

TEST(PolicyTrainOptions, RangesAreCheckedNamingTheKey) {
  PolicyTrainOptions t;
  t.lambda = 1.5;
  EXPECT_THROW(t.validate(), core::Error);
  t = PolicyTrainOptions();
  t.horizon = 0;
  try {
    t.validate();
    ADD_FAILURE();
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("policy_train.horizon = 0"), std::string::npos) << e.what();
  }
  t = PolicyTrainOptions();
  t.epochs = 0;
  EXPECT_THROW(t.validate(), core::Error);
  t = PolicyTrainOptions();
  t.clip_ratio = 0;
  EXPECT_THROW(t.validate(), core::Error);
}

}  // namespace
}  // namespace wm::policy
