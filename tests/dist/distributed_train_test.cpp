// `wm train` as one rank of a launched job, as users launch it: PyTorch's own torchrun and our
// wmrun start two workers on loopback, which train one model (rank 0 writes the run), and a
// worker killed mid-run makes wmrun restart the group, which resumes from the checkpoint.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <regex>
#include <csignal>
#include <fstream>
#include <map>
#include <thread>

#include "core/checkpoint.h"
#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

std::string wmrun() { return (std::filesystem::path(test::wm_binary()).parent_path() / "wmrun").string(); }

// How many metrics lines of `key` each step has.
std::map<int64_t, int> lines_per_step(const std::filesystem::path& metrics, const std::string& key) {
  std::map<int64_t, int> count;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains(key)) ++count[j["step"].get<int64_t>()];
  }
  return count;
}

class DistributedTrain : public test::TinyDrivingRun {
 protected:
  void SetUp() override {
    TinyDrivingRun::SetUp();
    const auto dump = test::run_command(test::wm_binary() + " tokens dump --tokenizer " + (dir_ / "tok.ckpt").string() + " --out " +
                                        (dir_ / "tokens").string() + " " + (dir_ / "d" / "episodes").string() + " run.device=cpu");
    ASSERT_EQ(dump.exit_code, 0) << dump.err;
  }
  // The worker's command line: wm train dynamics on the token shards, a metrics line every step.
  std::string train(int steps, const std::string& name) const {
    return test::wm_binary() + " train dynamics --config configs/demo.yaml run.out_dir=" + dir_.path().string() + " run.name=" + name +
           " data.path=" + (dir_ / "tokens").string() + kTinyModel + " log.every_steps=1 dist.timeout_s=60 dynamics_train.steps=" +
           std::to_string(steps);
  }
};

TEST_F(DistributedTrain, TorchrunStartsTwoRanksThatTrainTheDynamicsModelToTheEnd) {
  const std::string torchrun = ".venv/bin/torchrun";
  if (!std::filesystem::exists(torchrun)) GTEST_SKIP() << torchrun << " is absent (make setup installs it)";
  const auto r = test::run_command(torchrun + " --no-python --standalone --nproc-per-node 2 " + train(10, "tr"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto run = dir_ / "tr";
  EXPECT_NE(test::read_bytes(run / "logs" / "rank1.log").find("rank 1 of 2"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(run / "checkpoints" / "dynamics_000000010.ckpt"));
  // Rank 0 alone logs the job: one line per step, not one per rank.
  const std::map<int64_t, int> lines = lines_per_step(run / "metrics.jsonl", "dynamics/loss");
  ASSERT_EQ(lines.size(), 10u);
  for (const auto& [step, n] : lines) EXPECT_EQ(n, 1) << "step " << step;
}

TEST_F(DistributedTrain, AWorkerKilledMidRunIsRestartedByWmrunAndTheJobFinishesFromItsCheckpoint) {
  const std::string name = "killed_" + std::to_string(::getpid());
  const int steps = 300;
  test::CommandResult job;
  std::thread launcher([&] {
    job = test::run_command(wmrun() + " --standalone --nproc-per-node 2 --max-restarts 1 --log-dir " + (dir_ / "wmrun").string() + " -- " +
                            train(steps, name) + " --resume");
  });
  // Once the first checkpoint is on disk, kill -9 one worker (the oldest matching its command line).
  const auto first = dir_ / name / "checkpoints" / "dynamics_000000005.ckpt";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(50);
  while (!std::filesystem::exists(first) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto kill = test::run_command("pkill -9 -o -f '^" + test::wm_binary() + " train dynamics.*run.name=" + name + "'");
  launcher.join();
  ASSERT_EQ(kill.exit_code, 0) << "no worker to kill";
  ASSERT_EQ(job.exit_code, 0) << job.err;
  EXPECT_NE(job.err.find("signal SIGKILL"), std::string::npos) << job.err;
  EXPECT_NE(job.err.find("restarting the group (1 of 1)"), std::string::npos) << job.err;
  EXPECT_NE(test::read_bytes(dir_ / "wmrun" / "attempt_1" / "rank_0.log").find("resumed from"), std::string::npos);
  // Rank 1 prints nothing (rank 0 alone does) but logs to the run's file: it resumed too.
  EXPECT_NE(test::read_bytes(dir_ / name / "logs" / "rank1.log").find("resumed from"), std::string::npos);
  EXPECT_EQ(core::Checkpoint::load(dir_ / name / "checkpoints" / "dynamics_000000300.ckpt").counter("dynamics_step"), steps);
  // Every step logged once: the steps after the checkpoint that were logged before the kill
  // were dropped when they were re-done.
  const std::map<int64_t, int> lines = lines_per_step(dir_ / name / "metrics.jsonl", "dynamics/loss");
  EXPECT_EQ(lines.size(), static_cast<size_t>(steps));
  for (const auto& [step, n] : lines) EXPECT_EQ(n, 1) << "step " << step;
  const auto left = test::run_command("pgrep -f '^" + test::wm_binary() + " train dynamics.*run.name=" + name + "'");
  EXPECT_NE(left.exit_code, 0) << "a worker outlived wmrun: " << left.out;
}

// The policy as two ranks: each dreams its own batch from its own draws, the gradients and
// the return scaling are the job's, and rank 0 evaluates and writes.
TEST_F(DistributedTrain, ThePolicyTrainsAsTwoRanksUnderWmrun) {
  train_tiny_dynamics(10);
  const std::string policy = test::wm_binary() + " train policy --config configs/demo.yaml" + run_ + kTinyModel + " data.path=" +
                             (dir_ / "d" / "episodes").string() + " dynamics_train.tokenizer=" + (dir_ / "tok.ckpt").string() +
                             " policy_train.tokenizer=" + (dir_ / "tok.ckpt").string() +
                             " policy.channels=8 policy.hidden=16 policy_train.batch_size=4 policy_train.horizon=3 policy_train.context=2"
                             " policy_train.warmup_steps=1 policy_train.eval_every=3 policy_train.eval_episodes=1 checkpoint.every_steps=3"
                             " log.every_steps=1 env.height=32 env.width=32 env.max_steps=40 env.num_envs=2 policy_train.steps=6 dist.timeout_s=60";
  const auto r = test::run_command(wmrun() + " --standalone --nproc-per-node 2 --log-dir " + (dir_ / "wmrun").string() + " -- " + policy);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(test::read_bytes(dir_ / "d" / "logs" / "rank1.log").find("rank 1 of 2"), std::string::npos);
  EXPECT_EQ(core::Checkpoint::load(dir_ / "d" / "checkpoints" / "policy_000000006.ckpt").counter("policy_step"), 6);
  const std::map<int64_t, int> lines = lines_per_step(dir_ / "d" / "metrics.jsonl", "policy/loss");
  ASSERT_EQ(lines.size(), 6u);
  for (const auto& [step, n] : lines) EXPECT_EQ(n, 1) << "step " << step;
  EXPECT_FALSE(test::last_with(dir_ / "d" / "metrics.jsonl", "policy/eval_return_mean").is_null());
}

// A rank that stops answering (SIGSTOP) ends the job within the collective timeout: the other
// rank's all-reduce fails naming what it was doing, and wmrun stops the group.
TEST_F(DistributedTrain, ARankThatHangsEndsTheJobWithinTheTimeoutNotAHang) {
  const std::string name = "hung_" + std::to_string(::getpid());
  const double timeout_s = 5;
  test::CommandResult job;
  std::thread launcher([&] {
    job = test::run_command(wmrun() + " --standalone --nproc-per-node 2 --max-restarts 0 --log-dir " + (dir_ / "wmrun").string() + " -- " +
                            train(100000, name) + " dist.timeout_s=" + std::to_string(timeout_s));
  });
  const auto first = dir_ / name / "checkpoints" / "dynamics_000000005.ckpt";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(50);
  while (!std::filesystem::exists(first) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto stopped_at = std::chrono::steady_clock::now();
  const auto stop = test::run_command("pkill -STOP -n -f '^" + test::wm_binary() + " train dynamics.*run.name=" + name + "'");
  launcher.join();
  const double ended_after = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  ASSERT_EQ(stop.exit_code, 0) << "no worker to stop";
  EXPECT_NE(job.exit_code, 0);
  // One line naming the rank and the collective it was in.
  EXPECT_TRUE(std::regex_search(job.err, std::regex("rank [01] of 2: [^:\\n]+ failed: "))) << job.err;
  // The timeout, wmrun's grace period before SIGKILL reaches the stopped worker, and slack.
  EXPECT_LT(ended_after, 3 * timeout_s + 10) << job.err;
  const auto left = test::run_command("pgrep -f '^" + test::wm_binary() + " train dynamics.*run.name=" + name + "'");
  EXPECT_NE(left.exit_code, 0) << "a worker outlived wmrun: " << left.out;
}

// The master port taken by another program: rank 0 says so in one line, and the job ends.
TEST_F(DistributedTrain, AMasterPortInUseIsNamed) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  const auto job = test::run_command(wmrun() + " --nproc-per-node 2 --master-port " + std::to_string(port) + " --max-restarts 0 --log-dir " +
                                     (dir_ / "wmrun").string() + " -- " + train(10, "port") + " dist.timeout_s=10");
  ::close(fd);
  EXPECT_NE(job.exit_code, 0);
  EXPECT_NE(job.err.find("127.0.0.1:" + std::to_string(port) + " (is the port in use?"), std::string::npos) << job.err;
}

}  // namespace
}  // namespace wm
