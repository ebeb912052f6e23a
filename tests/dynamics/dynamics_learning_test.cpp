// The dynamics model learns a synthetic action-dependent world: a token grid that rotates
// left or right with the action, a reward given by the action and an episode end given by
// the frame — with discrete and with continuous actions, token by token and in parallel,
// through the real trainer.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dynamics/dynamics_test_support.h"
#include "dynamics/dynamics_trainer.h"

namespace wm::dynamics {
namespace {

void learns_the_shifting_world(bool continuous, Decoding decoding = Decoding::kAutoregressive) {
  torch::manual_seed(0);
  DynamicsOptions o = shifting_world_model_options(continuous);
  o.decoding = decoding;
  const DynamicsTrainOptions t = shifting_world_training();
  DynamicsTrainer trainer(WorldModel(o), t, c10::Device(c10::kCPU), core::Precision::kFp32);
  for (int64_t step = 0; step < t.steps; ++step) trainer.train_step(shifting_batch(o, t.batch_size, 100 + step, /*padded=*/step % 3));

  // Fresh windows the model never saw.
  const core::Scalars held_out = trainer.evaluate({shifting_batch(o, 64, 1), shifting_batch(o, 64, 2)});
  EXPECT_GE(scalar_named(held_out, "dynamics/holdout_next_frame_accuracy"), 0.99);
  EXPECT_GE(scalar_named(held_out, "dynamics/holdout_reward_accuracy"), 0.99);
  EXPECT_GE(scalar_named(held_out, "dynamics/holdout_done_accuracy"), 0.99);
}

TEST(DynamicsLearning, DiscreteActionsReachNinetyNinePercentNextFrameAccuracy) { learns_the_shifting_world(false); }

TEST(DynamicsLearning, ContinuousActionsReachNinetyNinePercentNextFrameAccuracy) { learns_the_shifting_world(true); }

// Parallel decoding predicts a whole frame from the previous one and the action, with no
// token of the frame in view: the shifting world needs nothing more, so the same accuracy.
TEST(DynamicsLearning, ParallelDecodingReachesNinetyNinePercentNextFrameAccuracy) {
  learns_the_shifting_world(false, Decoding::kParallel);
}

}  // namespace
}  // namespace wm::dynamics
