// `wm train policy` as a user runs it, after a tiny world model: the policy trains in its
// dreams, is evaluated in the real game, checkpoints with its tokenizer and resumes; `wm
// collect --policy` and `wm eval` act through the trained checkpoint; an environment whose
// actions differ from the world model's is one line naming both.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "policy/policy_checkpoint.h"
#include "test_support.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

class TrainPolicy : public test::TinyDrivingRun {
 protected:
  std::string policy_command(int steps) const {
    return test::wm_binary() + " train policy --config configs/demo.yaml" + run_ + kTinyModel + " data.path=" + (dir_ / "d" / "episodes").string() +
           " dynamics_train.tokenizer=" + (dir_ / "tok.ckpt").string() + " policy_train.tokenizer=" + (dir_ / "tok.ckpt").string() +
           " policy.channels=8 policy.hidden=16 policy_train.batch_size=4 policy_train.horizon=3 policy_train.context=2"
           " policy_train.warmup_steps=1 policy_train.eval_every=3 policy_train.eval_episodes=1 checkpoint.every_steps=3"
           " env.height=32 env.width=32 env.max_steps=40 env.num_envs=2 policy_train.steps=" + std::to_string(steps);
  }
};

TEST_F(TrainPolicy, TrainsInItsDreamsEvaluatesResumesAndActsThroughCollectAndEval) {
  train_tiny_dynamics(5);
  const auto r = test::run_command(policy_command(6));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("real-environment return"), std::string::npos) << r.err;
  const auto metrics = dir_ / "d" / "metrics.jsonl";
  const auto trained = test::last_with(metrics, "policy/imagined_return");
  ASSERT_FALSE(trained.is_null());
  EXPECT_GT(trained["policy/imagined_steps_per_s"].get<double>(), 0.0);
  EXPECT_FALSE(test::last_with(metrics, "policy/eval_return_mean").is_null());

  const auto checkpoint = dir_ / "d" / "checkpoints" / "policy_000000006.ckpt";
  ASSERT_TRUE(std::filesystem::exists(checkpoint));
  EXPECT_EQ(policy::load_policy(checkpoint, c10::Device(c10::kCPU))->options().num_actions, 9);
  EXPECT_EQ(tokenizer::load_tokenizer(checkpoint, c10::Device(c10::kCPU)).model->options().height, 32) << "the tokenizer travels along";

  const auto resumed = test::run_command(policy_command(9) + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  EXPECT_EQ(core::Checkpoint::load(dir_ / "d" / "checkpoints" / "policy_000000009.ckpt").counter("policy_step"), 9);

  // The trained policy acts in the real game: collecting, and evaluating.
  const auto collect = test::run_command(test::wm_binary() + " collect --config configs/demo.yaml --steps 40 --policy " + (dir_ / "d").string() +
                                         " run.out_dir=" + dir_.path().string() + " run.name=e env.height=32 env.width=32 env.max_steps=20 env.num_envs=2");
  ASSERT_EQ(collect.exit_code, 0) << collect.err;
  EXPECT_NE(collect.err.find("with the policy policy"), std::string::npos) << collect.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "e" / "episodes"));
  const auto eval = test::run_command(test::wm_binary() + " eval --run " + (dir_ / "d").string() + " --episodes 2 --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto result = nlohmann::json::parse(eval.out);
  EXPECT_EQ(result["agent"], "policy");
  EXPECT_EQ(result["returns"].size(), 2u);
}

TEST_F(TrainPolicy, AnEnvironmentWithOtherActionsIsOneLineNamingBoth) {
  train_tiny_dynamics(5);
  const auto r = test::run_command(policy_command(3) + " env.continuous=true");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("discrete(9)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("box(2"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Exception raised"), std::string::npos) << r.err;

  const auto eval = test::run_command(test::wm_binary() + " eval --run " + (dir_ / "d").string() + " --policy " + (dir_ / "nothing").string());
  EXPECT_NE(eval.exit_code, 0);
  EXPECT_NE(eval.err.find("--policy"), std::string::npos) << eval.err;
}

}  // namespace
}  // namespace wm
