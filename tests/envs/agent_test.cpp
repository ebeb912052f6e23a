// The agent interface `wm collect` acts through: seeded random actions inside the space, the
// driving expert through the same call, and episode ends reaching the agent. (The expert
// refusing a game it cannot read, real Pong: Collect.UnknownPolicyAndExpertOutsideDriving...)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "envs/agent.h"
#include "envs/env_options.h"

namespace wm::envs {
namespace {

std::unique_ptr<VectorEnv> driving(int64_t n) {
  EnvOptions options;
  options.num_envs = n;
  options.max_steps = 60;
  return make_vector_env(options);
}

// Runs `agent` for `steps` vector steps; returns the summed reward and the episode ends seen.
std::pair<double, int> run(Agent& agent, VectorEnv& env, int steps) {
  const FrameSpec spec = env.frame_spec();
  std::vector<uint8_t> frames(static_cast<size_t>(env.size() * spec.bytes()));
  const torch::Tensor view = torch::from_blob(frames.data(), {env.size(), spec.height, spec.width, 3}, torch::kUInt8);
  std::vector<StepResult> results;
  env.reset(7, frames.data());
  double total = 0;
  int ends = 0;
  for (int t = 0; t < steps; ++t) {
    const std::vector<Action> actions = agent.act(view);
    EXPECT_EQ(static_cast<int64_t>(actions.size()), env.size());
    for (const Action& a : actions) validate_action(env.action_space(), a, env.name());
    env.step(actions, frames.data(), results);
    for (int64_t i = 0; i < env.size(); ++i) {
      total += results[i].reward;
      if (results[i].done()) {
        agent.episode_ended(i);
        ++ends;
      }
    }
  }
  return {total, ends};
}

TEST(Agent, RandomActionsAreInTheSpaceAndTheSameForTheSameSeed) {
  const ActionSpace box = ActionSpace::box({-1, 0}, {1, 0.5});
  RandomAgent a(box, 3, 11), b(box, 3, 11), c(box, 3, 12);
  const torch::Tensor frames = torch::zeros({3, 8, 8, 3}, torch::kUInt8);
  const auto first = a.act(frames), same = b.act(frames), other = c.act(frames);
  for (const Action& action : first) validate_action(box, action, "test");
  EXPECT_EQ(first[1].values, same[1].values);
  EXPECT_NE(first[1].values, other[1].values);
  EXPECT_THROW(a.act(torch::zeros({2, 8, 8, 3}, torch::kUInt8)), core::Error);
}

TEST(Agent, TheExpertDrivesThroughTheInterfaceAndBeatsRandom) {
  auto env = driving(2);
  DrivingExpertAgent expert(*env);
  RandomAgent random(env->action_space(), env->size(), 3);
  const auto [expert_return, expert_ends] = run(expert, *env, 150);
  const auto [random_return, random_ends] = run(random, *env, 150);
  EXPECT_GT(expert_ends, 0) << "episodes of 60 steps end within 150";
  EXPECT_GT(expert_return, random_return + 20) << expert_return << " against " << random_return;
}

// Counts, per slot, the steps where the explorer's action differs from what the expert alone
// chooses in the same state.
TEST(Agent, TheExplorerReplacesTheSharedEpsilonOfActionsAndNoMore) {
  auto env = driving(4);
  const FrameSpec spec = env->frame_spec();
  std::vector<uint8_t> frames(static_cast<size_t>(env->size() * spec.bytes()));
  const torch::Tensor view = torch::from_blob(frames.data(), {env->size(), spec.height, spec.width, 3}, torch::kUInt8);
  std::vector<StepResult> results;
  for (double epsilon : {0.0, 0.3, 1.0}) {
    ExploringAgent explorer(std::make_unique<DrivingExpertAgent>(*env), env->action_space(), env->size(), epsilon, 5);
    DrivingExpertAgent expert(*env);  // the same states: the expert reads the game, not a history
    env->reset(9, frames.data());
    int64_t differ = 0, total = 0;
    for (int t = 0; t < 200; ++t) {
      const std::vector<Action> wanted = expert.act(view);
      const std::vector<Action> taken = explorer.act(view);
      for (size_t i = 0; i < taken.size(); ++i) differ += taken[i].index != wanted[i].index;
      total += static_cast<int64_t>(taken.size());
      env->step(taken, frames.data(), results);
    }
    // A random replacement equals the expert's action 1 time in 9.
    const double expected = epsilon * 8.0 / 9.0;
    EXPECT_NEAR(static_cast<double>(differ) / static_cast<double>(total), expected, 0.06) << "epsilon " << epsilon;
  }
  EXPECT_THROW(ExploringAgent(std::make_unique<RandomAgent>(env->action_space(), 4, 1), env->action_space(), 4, 1.5, 1), core::Error);
}

// An inner agent that always coasts straight (action 4): every other action is the explorer's.
class CoastingAgent : public Agent {
 public:
  std::string name() const override { return "coasting"; }
  std::vector<Action> act(const at::Tensor& frames) override { return std::vector<Action>(static_cast<size_t>(frames.size(0)), Action::discrete(4)); }
};

// Runs of one replaced action: with hold 8 they last 8 steps on average (1..15), with hold 1
// one step (two draws in a row agree 1 time in 9), and the replaced share stays epsilon either way.
TEST(Agent, TheExplorerHoldsEachRandomActionForHoldStepsOnAverage) {
  const ActionSpace nine = ActionSpace::discrete(9);
  const torch::Tensor frames = torch::zeros({4, 8, 8, 3}, torch::kUInt8);
  for (int64_t hold : {1, 8}) {
    ExploringAgent explorer(std::make_unique<CoastingAgent>(), nine, 4, 0.3, 17, hold);
    std::vector<int64_t> previous(4, 4);
    int64_t replaced = 0, runs = 0, total = 0;
    for (int t = 0; t < 4000; ++t) {
      const std::vector<Action> taken = explorer.act(frames);
      for (size_t i = 0; i < taken.size(); ++i) {
        const int64_t a = taken[i].index;
        replaced += a != 4;
        runs += a != 4 && a != previous[i];  // a run of a replaced action starts here
        previous[i] = a;
        ++total;
      }
    }
    EXPECT_NEAR(static_cast<double>(replaced) / static_cast<double>(total), 0.3 * 8.0 / 9.0, 0.04) << "hold " << hold;
    const double mean_run = static_cast<double>(replaced) / static_cast<double>(runs);
    if (hold == 1) EXPECT_LT(mean_run, 1.3);
    else EXPECT_NEAR(mean_run, 8.0, 1.5);
  }
  EXPECT_THROW(ExploringAgent(std::make_unique<CoastingAgent>(), nine, 4, 0.3, 1, 0), core::Error);
}

}  // namespace
}  // namespace wm::envs
