// `wm train all` as a user runs it, at a tiny size: epochs of collect, tokenizer, dynamics,
// policy and evaluation; killed with SIGKILL mid-epoch, the same command resumes from the
// loop's state and the phases' checkpoints and ends with the comparison table.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>

#include "core/checkpoint.h"
#include "core/file_io.h"
#include "dataloader/episode_store.h"
#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

std::vector<std::string> tiny_loop(const std::filesystem::path& out) {
  return {"train", "all", "--config", "configs/demo.yaml", "run.out_dir=" + out.string(), "run.name=loop", "run.device=cpu",
          "loop.epochs=3", "loop.collect_steps=150", "loop.tokenizer_steps=6", "loop.dynamics_steps=6", "loop.policy_steps=4",
          "loop.eval_episodes=1", "loop.final_episodes=2", "checkpoint.every_steps=2", "log.every_steps=2",
          "env.height=32", "env.width=32", "env.max_steps=40", "env.num_envs=2",
          "tokenizer.height=32", "tokenizer.width=32", "tokenizer.downsample=4", "tokenizer.channel_mult=[1,2,2]", "tokenizer.base_channels=16",
          "tokenizer.vocab_size=256", "tokenizer.code_dim=16", "tokenizer_train.batch_size=8",
          "dynamics.layers=1", "dynamics.width=32", "dynamics.heads=2", "dynamics.context_steps=4", "dynamics_train.batch_size=4",
          "policy.channels=8", "policy.hidden=16", "policy_train.batch_size=4", "policy_train.horizon=3", "policy_train.context=2"};
}

std::string shell_words(const std::vector<std::string>& args) {
  std::string command = test::wm_binary();
  for (const auto& a : args) command += " '" + a + "'";
  return command;
}

// Early stopping belongs to one-phase runs: the loop refuses it in one line naming the key,
// before it collects or writes anything.
TEST(TrainAll, EarlyStoppingIsRefusedNamingTheKey) {
  test::TempDir dir;
  std::vector<std::string> args = tiny_loop(dir.path());
  args.push_back("dynamics_train.early_stop_evals=3");
  const auto r = test::run_command(shell_words(args));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("dynamics_train.early_stop_evals = 3: wm train all decides when its phases stop"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "loop" / "episodes"));
}

TEST(TrainAll, RunsItsEpochsResumesAfterAKillAndEndsWithTheTable) {
  test::TempDir dir;
  const auto run = dir / "loop";
  const auto state_file = run / "loop_state.json";
  auto state = [&] { return nlohmann::json::parse(core::read_file(state_file)); };
  auto in_epoch_2_after_collecting = [&] {
    if (!std::filesystem::exists(state_file)) return false;
    const auto s = state();
    return s["epoch"] == 2 && !s["done"].empty();
  };

  const int pid = test::spawn_wm(tiny_loop(dir.path()));
  ASSERT_TRUE(test::wait_for(in_epoch_2_after_collecting, 50)) << "the loop never reached epoch 2";
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(state()["epoch"], 2);

  const auto resumed = test::run_command(shell_words(tiny_loop(dir.path())));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming the loop at epoch 2"), std::string::npos) << resumed.err;
  EXPECT_EQ(resumed.err.find("epoch 1/3"), std::string::npos) << "epoch 1 ran again";
  EXPECT_NE(resumed.err.find("epoch 3/3"), std::string::npos) << resumed.err;
  for (const char* row : {"trained policy", "random", "expert (scripted)"}) EXPECT_NE(resumed.err.find(row), std::string::npos) << row;
  EXPECT_EQ(state()["epoch"], 4);

  // Every component trained its steps of all three epochs, no more, no less.
  const auto newest = [&](const std::string& kind, int64_t step) {
    return core::Checkpoint::load(run / "checkpoints" / (kind + "_" + std::string(9 - std::to_string(step).size(), '0') + std::to_string(step) + ".ckpt"));
  };
  EXPECT_EQ(newest("tokenizer", 18).counter("tokenizer_step"), 18);
  EXPECT_EQ(newest("dynamics", 18).counter("dynamics_step"), 18);
  EXPECT_EQ(newest("policy", 12).counter("policy_step"), 12);
  EXPECT_FALSE(test::last_with(run / "metrics.jsonl", "loop/eval_return_mean").is_null());
  EXPECT_FALSE(test::last_with(run / "metrics.jsonl", "collect/episode_return").is_null());
  // Episodes run on across epochs while evaluations play in environments of their own: no
  // stored episode is longer than the game's 40 steps (an evaluation that reset the
  // collector's environments mid-episode spliced two episodes into one).
  const dataloader::EpisodeStore store(run / "episodes", dataloader::EpisodeStore::Mode::kRead);
  ASSERT_GT(store.num_episodes(), 0);
  for (int64_t e = 0; e < store.num_episodes(); ++e) EXPECT_LE(store.episode_length(e), 40) << "episode " << e;
  // The wall-clock split by phase, per epoch and in the metrics.
  for (const char* phase : {"collect", "tokenizer", "dynamics", "policy", "eval"}) {
    EXPECT_FALSE(test::last_with(run / "metrics.jsonl", std::string("loop/seconds_") + phase).is_null()) << phase;
  }
  EXPECT_NE(resumed.err.find("returns over 2 episodes"), std::string::npos) << resumed.err;
  EXPECT_GT(std::filesystem::file_size(run / "dreams" / "strip.png"), 1000u) << "the strip of real and dreamed frames";
  // The dream report (wm dream), and the baselines its bits/token chart draws beside the model.
  EXPECT_NE(resumed.err.find("the dream report: " + (run / "dreams" / "report.html").string()), std::string::npos) << resumed.err;
  for (const char* file : {"report.html", "dream.mp4", "dream.gif", "errors.csv"}) EXPECT_TRUE(std::filesystem::is_regular_file(run / "dreams" / file)) << file;
  EXPECT_FALSE(test::last_with(run / "metrics.jsonl", "dynamics/holdout_copy_bits").is_null());
  EXPECT_FALSE(test::last_with(run / "metrics.jsonl", "dynamics/holdout_unigram_bits").is_null());
}

// Data parallel under wmrun: each rank collects its half of the epoch's real steps into its own
// store and trains on it; the job logs once, trains each component its steps, and rank 0 ends
// with the table.
TEST(TrainAll, TwoRanksUnderWmrunEachCollectIntoTheirOwnStoreAndFinishTheLoop) {
  test::TempDir dir;
  const auto run = dir / "loop";
  std::vector<std::string> args = tiny_loop(dir.path());
  std::replace(args.begin(), args.end(), std::string("loop.epochs=3"), std::string("loop.epochs=2"));
  // 120 steps a rank and epoch: an episode of each environment ends in the first epoch.
  std::replace(args.begin(), args.end(), std::string("loop.collect_steps=150"), std::string("loop.collect_steps=240"));
  const std::string wmrun = (std::filesystem::path(test::wm_binary()).parent_path() / "wmrun").string();
  const auto r = test::run_command(wmrun + " --standalone --nproc-per-node 2 --log-dir " + (dir / "wmrun").string() + " -- " + shell_words(args) +
                                   " dist.timeout_s=120");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("done after 2 epochs"), std::string::npos) << r.err;
  for (const char* row : {"trained policy", "random", "expert (scripted)"}) EXPECT_NE(r.err.find(row), std::string::npos) << row;
  EXPECT_NE(test::read_bytes(run / "logs" / "rank1.log").find("the loop is done"), std::string::npos);
  // Each rank's store: its half of 2 epochs x 240 steps, in finished episodes of <= 40 steps.
  int64_t stored = 0;
  for (const char* folder : {"episodes", "episodes_rank1"}) {
    const dataloader::EpisodeStore store(run / folder, dataloader::EpisodeStore::Mode::kRead);
    EXPECT_GT(store.num_episodes(), 0) << folder;
    EXPECT_LE(store.total_steps(), 240) << folder << ": a rank collects its half, not the job's steps";
    stored += store.total_steps();
  }
  EXPECT_GT(stored, 240) << "both ranks' collections count";
  EXPECT_EQ(core::Checkpoint::load(run / "checkpoints" / "tokenizer_000000012.ckpt").counter("tokenizer_step"), 12);
  EXPECT_EQ(core::Checkpoint::load(run / "checkpoints" / "policy_000000008.ckpt").counter("policy_step"), 8);
  // One line per phase and epoch, written by rank 0 for the job.
  int collect_lines = 0;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) collect_lines += nlohmann::json::parse(line).contains("loop/seconds_collect") ? 1 : 0;
  EXPECT_EQ(collect_lines, 2);
  EXPECT_TRUE(std::filesystem::is_regular_file(run / "dreams" / "report.html"));
}

}  // namespace
}  // namespace wm
