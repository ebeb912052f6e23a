// `wm bench actions` as a user runs it after a tiny world model: from the same real states
// each action's real branch and dream, one JSON line per figure; the real branches replay
// the game (braking earns less and ends slower than accelerating); a run of another game is
// one line naming env.id.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

class BenchActions : public test::TinyDrivingRun {};

TEST_F(BenchActions, BranchesTheRealGameAndTheDreamFromTheSameStates) {
  train_tiny_dynamics(5);
  const auto r = test::run_command(test::wm_binary() + " bench actions --run " + (dir_ / "d").string() + " --tokenizer " + (dir_ / "tok.ckpt").string() +
                                   " --starts 4 --horizon 3 --context 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, nlohmann::json> records;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["bench"], "actions");
    records[j["metric"].get<std::string>()] = j;
  }
  ASSERT_EQ(records.size(), 15u) << r.out;
  for (const char* action : {"left_brake", "straight_coast", "right_accelerate"}) {
    const auto& record = records.at(std::string("return_") + action);
    EXPECT_EQ(record["baseline"], "real");
    EXPECT_TRUE(std::isfinite(record["value"].get<double>()));
  }
  // The real side is the game itself: 3 steps of braking from the expert's speed earn less
  // and end slower than 3 of accelerating.
  EXPECT_LT(records.at("return_straight_brake")["baseline_value"].get<double>(),
            records.at("return_straight_accelerate")["baseline_value"].get<double>());
  EXPECT_LT(records.at("end_speed_straight_brake")["baseline_value"].get<double>(),
            records.at("end_speed_straight_accelerate")["baseline_value"].get<double>());
  const double correlation = records.at("action_effect_correlation")["value"].get<double>();
  EXPECT_GE(correlation, -1.0);
  EXPECT_LE(correlation, 1.0);
  EXPECT_EQ(records.at("best_action_agreement")["starts"], 4);
  EXPECT_NEAR(records.at("best_action_agreement")["chance"].get<double>(), 1.0 / 9.0, 1e-9);

  // Another game's run: one line naming the key.
  const auto pong = dir_ / "pong";
  std::filesystem::create_directories(pong);
  std::ofstream(pong / "config.yaml") << "env:\n  id: ALE/Pong-v5\n";
  const auto refused = test::run_command(test::wm_binary() + " bench actions --run " + pong.string());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("env.id = 'ALE/Pong-v5'"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace wm
