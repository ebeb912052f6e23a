// A policy learns a task it only ever meets inside a learned world model: a signal world
// where every frame shows one of two signals (all tokens 1, or all tokens 2, drawn anew each
// step) and the rewarded action is the one the signal names (+1; the other 0 or -1). The world
// model learns that from random play; the policy then trains in imagination alone and must
// read the frame to act right — with one pass per dreamed batch (REINFORCE) and with PPO's
// four.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "dynamics/dynamics_test_support.h"
#include "dynamics/dynamics_trainer.h"
#include "policy/policy_trainer.h"
#include "tokenizer/tokenizer_test_support.h"

namespace wm::policy {
namespace {

// Windows of the signal world under random actions. -> tokens [B, L, K] of 1s or 2s.
dynamics::DynamicsBatch signal_batch(const dynamics::DynamicsOptions& o, int64_t batch, int64_t steps, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor signal = torch::randint(1, 3, {batch, steps}, gen, torch::kInt64);  // 1 or 2
  const torch::Tensor actions = torch::randint(0, 2, {batch, steps}, gen, torch::kInt64);
  dynamics::DynamicsBatch b;
  b.tokens = signal.unsqueeze(2).expand({batch, steps, o.tokens_per_frame}).contiguous();
  b.actions = actions;
  // The named action earns +1; the other 0 under signal 1 and -1 under signal 2. (A plain
  // +1/-1 would be an XOR of signal and action whose every marginal is 50/50: a world model
  // starts on a plateau there and takes far longer to find it.)
  const torch::Tensor right = actions == signal - 1;
  b.rewards = torch::where(right, torch::ones({batch, steps}), torch::where(signal == 1, torch::zeros({batch, steps}), -torch::ones({batch, steps})));
  b.dones = torch::zeros({batch, steps}, torch::kUInt8);
  b.mask = torch::ones({batch, steps}, torch::kBool);
  return b;
}

// The world model of the signal world, learnt once for every test here from random play,
// with the copy path on.
class PolicyLearning : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::manual_seed(0);
    options_ = dynamics::small_dynamics_options();
    options_.vocab_size = 256;  // the tokenizer's
    // The policy learns in the dream of a world model with the copy path on (the previous
    // frame in each prediction's input, its 3x3 neighbourhood as copy candidates).
    options_.previous_frame_input = options_.copy_gate = true;
    options_.grid_height = options_.grid_width = 2;
    options_.copy_radius = 1;
    dynamics::DynamicsTrainOptions wt = dynamics::shifting_world_training();
    wt.steps = 200;
    dynamics::DynamicsTrainer world_trainer(dynamics::WorldModel(options_), wt, c10::Device(c10::kCPU), core::Precision::kFp32);
    for (int64_t s = 0; s < wt.steps; ++s) world_trainer.train_step(signal_batch(options_, wt.batch_size, options_.context_steps, 100 + s));
    reward_accuracy_ = dynamics::scalar_named(world_trainer.evaluate({signal_batch(options_, 64, options_.context_steps, 1)}),
                                              "dynamics/holdout_reward_accuracy");
    world_ = new dynamics::WorldModel(world_trainer.model());
  }
  static void TearDownTestSuite() {
    delete world_;
    world_ = nullptr;
  }

  // Trains a fresh policy in imagination alone for `steps` updates of `epochs` passes and
  // returns its last imagined return; with `check`, also that it reached the best return and
  // reads the frame.
  static double learns_the_signal_world(int64_t epochs, int64_t steps, bool check = true, bool symlog_critic = false) {
    EXPECT_GE(reward_accuracy_, 0.95) << "the world model did not learn the rewards";
    torch::manual_seed(1);
    tokenizer::VQModel tok(tokenizer::small_options(8, 8));  // an untrained tokenizer: distinct code vectors are enough
    PolicyInputs inputs(tok, PolicyInput::kTokens);
    PolicyOptions po;
    po.channels = 16, po.hidden = 32, po.num_actions = 2;
    po.symlog_value = symlog_critic;
    inputs.fit(po);
    PolicyTrainOptions pt;
    pt.steps = steps, pt.batch_size = 32, pt.horizon = 4, pt.context = 1, pt.lr = 3e-4, pt.warmup_steps = 1;
    pt.epochs = epochs;
    pt.normalize_advantages = symlog_critic;
    PolicyTrainer trainer(ActorCritic(po), *world_, inputs, pt, c10::Device(c10::kCPU));
    double first_return = 0, last_return = 0;
    for (int64_t s = 0; s < pt.steps; ++s) {
      const core::Scalars figures = trainer.train_step(signal_batch(options_, pt.batch_size, 1, 5000 + s));
      const double imagined = dynamics::scalar_named(figures, "policy/imagined_return");
      if (s == 0) first_return = imagined;
      last_return = imagined;
    }
    std::cout << epochs << " pass(es) per batch, " << steps << " updates: imagined return over 4 steps " << first_return
              << " at the first update, " << last_return << " at the last\n";
    if (!check) return last_return;
    EXPECT_GT(last_return, 3.0) << "the best return over 4 steps is 4";

    // The greedy policy on fresh frames of each signal.
    ActorCritic& policy = trainer.policy();
    policy->eval();
    torch::NoGradGuard no_grad;
    for (int64_t signal : {1, 2}) {
      const torch::Tensor tokens = torch::full({16, options_.tokens_per_frame}, signal, torch::kInt64);
      const PolicyStep step = policy->forward(inputs.from_tokens(tokens), policy->initial_state(16));
      const SampledActions greedy = sample_actions(step, po, /*greedy=*/true);
      EXPECT_TRUE(torch::equal(greedy.actions, torch::full({16}, signal - 1, torch::kInt64))) << "signal " << signal;
    }
    return last_return;
  }

  static dynamics::DynamicsOptions options_;
  static dynamics::WorldModel* world_;
  static double reward_accuracy_;
};

dynamics::DynamicsOptions PolicyLearning::options_;
dynamics::WorldModel* PolicyLearning::world_ = nullptr;
double PolicyLearning::reward_accuracy_ = 0;

TEST_F(PolicyLearning, LearnsTheSignalWorldInImaginationAlone) { learns_the_signal_world(/*epochs=*/1, /*steps=*/300); }

// PPO's later passes learn more from each dreamed batch: a quarter of the updates suffice,
// where one pass per batch is still far from the best return after as many.
TEST_F(PolicyLearning, LearnsTheSignalWorldWithFourPassesPerBatchInAQuarterOfTheUpdates) {
  const double four_passes = learns_the_signal_world(/*epochs=*/4, /*steps=*/75);
  const double one_pass = learns_the_signal_world(/*epochs=*/1, /*steps=*/75, /*check=*/false);
  EXPECT_GT(four_passes, one_pass + 1.0);
}

// A critic in symlog scale (its first value exactly 0, where symlog's naive gradient vanishes),
// advantages normalised per batch and eight passes per batch: still the best action per signal.
TEST_F(PolicyLearning, LearnsTheSignalWorldWithASymlogCriticAndEightPasses) {
  learns_the_signal_world(/*epochs=*/8, /*steps=*/75, /*check=*/true, /*symlog_critic=*/true);
}

}  // namespace
}  // namespace wm::policy
