// The Gymnasium bridge with a real Atari game (ale-py ships the ROMs).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "envs/gym_vector_env.h"
#include "test_support.h"

namespace wm::envs {
namespace {

using test::error_of;

EnvOptions pong(int64_t workers) {
  EnvOptions options;
  options.id = "ALE/Pong-v5";
  options.num_envs = workers;
  return options;
}

// True once `pid` no longer exists (reaped, or never our child and gone).
bool gone(pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(GymBridge, PongResetsAndStepsWithIrisPreprocessing) {
  GymVectorEnv env(pong(2));
  EXPECT_EQ(env.action_space().n, 6);  // Pong's minimal action set
  EXPECT_EQ(env.frame_spec().height, 64);
  std::vector<uint8_t> frames(2 * env.frame_spec().bytes());
  env.reset(/*base_seed=*/3, frames.data());
  // Pong's playfield is brown-orange (R > B) over most of the frame.
  int64_t warm = 0;
  for (size_t p = 0; p < frames.size(); p += 3) warm += frames[p] > frames[p + 2] + 40;
  EXPECT_GT(warm, static_cast<int64_t>(frames.size() / 3) / 2);

  std::vector<StepResult> results;
  double total_reward = 0;
  bool changed = false;
  const std::vector<uint8_t> first = frames;
  for (int t = 0; t < 300; ++t) {
    env.step({Action::discrete(t % 6), Action::discrete((t + 3) % 6)}, frames.data(), results);
    ASSERT_EQ(results.size(), 2u);
    total_reward += results[0].reward + results[1].reward;
    changed = changed || frames != first;
  }
  EXPECT_TRUE(changed);
  EXPECT_LT(total_reward, 0.0);  // random play loses points at Pong within 300 steps
  EXPECT_NE(error_of([&] { env.step({Action::discrete(6), Action::discrete(0)}, frames.data(), results); })
                .find("ALE/Pong-v5: action 6 is outside the action space discrete(6)"),
            std::string::npos);
}

TEST(GymBridge, SameSeedSameFrames) {
  GymVectorEnv a(pong(1)), b(pong(1));
  std::vector<uint8_t> fa(a.frame_spec().bytes()), fb(b.frame_spec().bytes());
  std::vector<StepResult> results;
  a.reset(11, fa.data());
  b.reset(11, fb.data());
  for (int t = 0; t < 50; ++t) {
    a.step({Action::discrete(t % 6)}, fa.data(), results);
    b.step({Action::discrete(t % 6)}, fb.data(), results);
  }
  EXPECT_EQ(fa, fb);
}

TEST(GymBridge, AKilledWorkerIsAnErrorNamingTheEnvAndNoWorkerOutlivesTheBridge) {
  std::vector<pid_t> pids;
  {
    GymVectorEnv env(pong(2));
    pids = env.worker_pids();
    std::vector<uint8_t> frames(2 * env.frame_spec().bytes());
    env.reset(0, frames.data());
    ::kill(pids[1], SIGKILL);
    std::vector<StepResult> results;
    const std::string message =
        error_of([&] { env.step({Action::discrete(0), Action::discrete(0)}, frames.data(), results); });
    EXPECT_NE(message.find("ALE/Pong-v5: the worker process was killed by signal 9"), std::string::npos) << message;
  }
  for (pid_t pid : pids) EXPECT_TRUE(gone(pid)) << pid;
}

// Regression: when the dead worker's pipe is already closed, the next command cannot even be
// sent; the error must still say how the worker ended (it said only "died" before).
TEST(GymBridge, AWorkerKilledBeforeTheNextCommandIsNamedWithItsSignal) {
  GymVectorEnv env(pong(1));
  const pid_t pid = env.worker_pids()[0];
  std::vector<uint8_t> frames(env.frame_spec().bytes());
  env.reset(0, frames.data());
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // its pipes are closed by now
  std::vector<StepResult> results;
  const std::string message = error_of([&] { env.step({Action::discrete(0)}, frames.data(), results); });
  EXPECT_NE(message.find("ALE/Pong-v5: the worker process was killed by signal 9"), std::string::npos) << message;
}

TEST(GymBridge, AHungWorkerTimesOut) {
  EnvOptions options = pong(1);
  options.worker_timeout_s = 1.0;
  GymVectorEnv env(options);
  std::vector<uint8_t> frames(env.frame_spec().bytes());
  env.reset(0, frames.data());
  const pid_t pid = env.worker_pids()[0];
  ::kill(pid, SIGSTOP);  // alive but silent
  std::vector<StepResult> results;
  const std::string message = error_of([&] { env.step({Action::discrete(0)}, frames.data(), results); });
  EXPECT_NE(message.find("did not answer within 1 s (hung)"), std::string::npos) << message;
  EXPECT_TRUE(gone(pid));
}

TEST(GymBridge, AnUnknownEnvIdReportsThePythonException) {
  EnvOptions options = pong(1);
  options.id = "ALE/NoSuchGame-v5";
  const std::string message = error_of([&] { GymVectorEnv env(options); });
  EXPECT_NE(message.find("ALE/NoSuchGame-v5: NameNotFound"), std::string::npos) << message;
}

}  // namespace
}  // namespace wm::envs
