// `wm train modelfree`, the baseline without a world model, as a user runs it: the actor-
// critic learns from the real game's pixels for model_free.real_steps steps, is evaluated,
// checkpoints without a tokenizer and resumes; `wm eval` plays its checkpoint; a pixel
// policy asked to dream is one line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "policy/policy_checkpoint.h"
#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

std::string model_free_command(const test::TempDir& dir, int real_steps) {
  return test::wm_binary() + " train modelfree --config configs/demo.yaml run.out_dir=" + dir.path().string() +
         " run.name=mf model_free.envs=2 policy_train.horizon=5 policy.channels=8 policy.hidden=16 policy_train.warmup_steps=1"
         " policy_train.eval_every=3 policy_train.eval_episodes=1 checkpoint.every_steps=3 log.every_steps=1"
         " env.height=32 env.width=32 env.max_steps=30 model_free.real_steps=" + std::to_string(real_steps);
}

TEST(TrainModelFree, LearnsFromRealStepsEvaluatesResumesAndPlaysThroughEval) {
  test::TempDir dir;
  // 60 real steps of 2 environments x 5: 6 updates.
  const auto r = test::run_command(model_free_command(dir, 60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("6 updates of 2 environments x 5 steps"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("real-environment return"), std::string::npos) << r.err;
  const auto metrics = dir / "mf" / "metrics.jsonl";
  const auto last = test::last_with(metrics, "policy/real_steps");
  ASSERT_FALSE(last.is_null());
  EXPECT_EQ(last["policy/real_steps"].get<double>(), 60.0);
  EXPECT_GT(last["policy/real_steps_per_s"].get<double>(), 0.0);
  EXPECT_FALSE(test::last_with(metrics, "policy/eval_return_mean").is_null());

  const auto checkpoint = dir / "mf" / "checkpoints" / "policy_000000006.ckpt";
  ASSERT_TRUE(std::filesystem::exists(checkpoint));
  const core::Checkpoint stored = core::Checkpoint::load(checkpoint);
  EXPECT_EQ(stored.counter("real_steps"), 60);
  EXPECT_EQ(policy::policy_options_of(stored).input, policy::PolicyInput::kPixels);

  const auto resumed = test::run_command(model_free_command(dir, 90) + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  EXPECT_EQ(core::Checkpoint::load(dir / "mf" / "checkpoints" / "policy_000000009.ckpt").counter("real_steps"), 90);

  const auto eval = test::run_command(test::wm_binary() + " eval --run " + (dir / "mf").string() + " --episodes 2 --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto result = nlohmann::json::parse(eval.out);
  EXPECT_EQ(result["agent"], "policy");
  EXPECT_EQ(result["returns"].size(), 2u);
}

class PixelPolicy : public test::TinyDrivingRun {};

TEST_F(PixelPolicy, CannotDreamAndSaysSoInOneLine) {
  train_tiny_dynamics(2);
  const auto r = test::run_command(test::wm_binary() + " train policy --config configs/demo.yaml" + run_ + kTinyModel + " data.path=" +
                                   (dir_ / "d" / "episodes").string() + " dynamics_train.tokenizer=" + (dir_ / "tok.ckpt").string() +
                                   " policy_train.tokenizer=" + (dir_ / "tok.ckpt").string() + " policy.input=pixels policy_train.steps=2"
                                   " policy_train.eval_episodes=0 env.height=32 env.width=32");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("policy.input = pixels"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wm
