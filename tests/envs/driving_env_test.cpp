#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <numeric>

#include "envs/driving_env.h"
#include "envs/driving_expert.h"
#include "envs/driving_renderer.h"
#include "envs/vector_env.h"
#include "test_support.h"

namespace wm::envs {
namespace {

using test::error_of;

struct EpisodeStats {
  double total_reward = 0;
  int64_t steps = 0;
  bool crashed_or_offroad = false;
};

template <class ActFn>
EpisodeStats run_episode(DrivingEnv& env, uint64_t seed, ActFn act, std::vector<uint8_t>* frames = nullptr) {
  std::vector<uint8_t> frame(env.frame_spec().bytes());
  env.reset(seed, frame.data());
  EpisodeStats stats;
  while (true) {
    if (frames) frames->insert(frames->end(), frame.begin(), frame.end());
    const StepResult r = env.step(act(env), frame.data());
    stats.total_reward += r.reward;
    ++stats.steps;
    if (r.done()) {
      stats.crashed_or_offroad = r.terminated;
      return stats;
    }
  }
}

TEST(DrivingEnv, SameSeedAndActionsGiveIdenticalFrames) {
  DrivingOptions options;
  options.max_steps = 120;
  DrivingEnv a(options), b(options);
  RandomPolicy policy_a(a.action_space(), 5), policy_b(b.action_space(), 5);
  std::vector<uint8_t> frames_a, frames_b;
  run_episode(a, 42, [&](const DrivingEnv&) { return policy_a.act(); }, &frames_a);
  run_episode(b, 42, [&](const DrivingEnv&) { return policy_b.act(); }, &frames_b);
  ASSERT_EQ(frames_a.size(), frames_b.size());
  EXPECT_TRUE(frames_a == frames_b);

  std::vector<uint8_t> frames_c;
  RandomPolicy policy_c(a.action_space(), 5);
  run_episode(a, 43, [&](const DrivingEnv&) { return policy_c.act(); }, &frames_c);
  EXPECT_FALSE(frames_a == frames_c);  // another seed is another road
}

TEST(DrivingEnv, FramesHaveTheConfiguredShapeAndLookLikeARoad) {
  for (auto [h, w] : {std::pair{64, 64}, std::pair{64, 128}, std::pair{96, 72}}) {
    DrivingOptions options;
    options.height = h;
    options.width = w;
    DrivingEnv env(options);
    EXPECT_EQ(env.frame_spec().height, h);
    EXPECT_EQ(env.frame_spec().width, w);
    std::vector<uint8_t> frame(env.frame_spec().bytes());
    env.reset(1, frame.data());
    auto pixel = [&](int y, int x, int c) { return frame[(static_cast<size_t>(y) * w + x) * 3 + c]; };
    // Sky on top is blue-ish, the road in the lower middle grey, grass beside the road
    // just below the horizon green.
    EXPECT_GT(pixel(1, w / 2, 2), pixel(1, w / 2, 0));
    const int road_row = static_cast<int>(0.8 * h);
    EXPECT_NEAR(pixel(road_row, w / 2, 0), pixel(road_row, w / 2, 1), 12);
    const int grass_row = static_cast<int>(0.5 * h);
    EXPECT_GT(pixel(grass_row, 0, 1), pixel(grass_row, 0, 0) + 30);
  }
}

TEST(DrivingEnv, InvalidActionsAreRejectedWithTheSpace) {
  DrivingEnv env;
  std::vector<uint8_t> frame(env.frame_spec().bytes());
  env.reset(0, frame.data());
  EXPECT_EQ(env.action_space().n, 9);
  EXPECT_NE(error_of([&] { env.step(Action::discrete(9), frame.data()); }).find("action 9 is outside the action space discrete(9)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { env.step(Action::discrete(-1), frame.data()); }).find("outside"), std::string::npos);

  DrivingOptions continuous;
  continuous.continuous = true;
  DrivingEnv box(continuous);
  box.reset(0, frame.data());
  EXPECT_EQ(box.action_space().dim, 2);
  EXPECT_NO_THROW(box.step(Action::box({0.5f, -1.0f}), frame.data()));
  EXPECT_NE(error_of([&] { box.step(Action::box({1.5f, 0.0f}), frame.data()); }).find("action value 0 = 1.5 is outside [-1, 1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { box.step(Action::box({0.0f}), frame.data()); }).find("has 1 values"), std::string::npos);
}

TEST(DrivingEnv, ProgressRewardOffRoadPenaltyAndTruncation) {
  DrivingOptions options;
  options.max_steps = 50;
  DrivingEnv env(options);
  std::vector<uint8_t> frame(env.frame_spec().bytes());
  env.reset(3, frame.data());
  // Full throttle straight ahead on the opening straight: reward grows with speed.
  float last = -1;
  for (int i = 0; i < 10; ++i) {
    const StepResult r = env.step(Action::discrete(3 * 1 + 2), frame.data());
    EXPECT_GT(r.reward, last);
    EXPECT_LE(r.reward, 1.0f);
    last = r.reward;
  }
  // Steer hard right until off the road: the reward drops below the speed term.
  StepResult r;
  while (env.on_road()) r = env.step(Action::discrete(3 * 2 + 2), frame.data());
  EXPECT_LT(r.reward, env.speed() / env.physics().max_speed - 0.29);
  int64_t steps = env.steps();
  while (!r.done()) {
    r = env.step(Action::discrete(3 * 0 + 1), frame.data());
    ++steps;
  }
  EXPECT_TRUE(r.truncated || r.terminated);
  EXPECT_LE(steps, 50);
}

TEST(DrivingEnv, StayingOffRoadTooLongEndsTheEpisode) {
  DrivingOptions options;
  options.max_offroad_steps = 5;
  DrivingEnv env(options);
  std::vector<uint8_t> frame(env.frame_spec().bytes());
  env.reset(9, frame.data());
  StepResult r;
  int64_t offroad = 0;
  for (int i = 0; i < 200 && !r.done(); ++i) {
    r = env.step(Action::discrete(3 * 2 + 2), frame.data());  // hard right, full throttle
    offroad = env.on_road() ? 0 : offroad + 1;
  }
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(offroad, 5);
}

TEST(DrivingEnv, ActionRepeatHoldsTheActionForKTicksSumsTheirRewardsAndCountsTicksToTheLimit) {
  DrivingOptions once, thrice;
  once.max_steps = thrice.max_steps = 30;
  thrice.action_repeat = 3;
  DrivingEnv a(once), b(thrice);
  std::vector<uint8_t> frame_a(a.frame_spec().bytes()), frame_b(b.frame_spec().bytes());
  a.reset(7, frame_a.data());
  b.reset(7, frame_b.data());
  // Straight ahead, coasting / accelerating / braking in turn: no curve before z = 30 and no
  // car to catch within 30 ticks, so the episode runs to the tick limit.
  int64_t steps_b = 0;
  for (bool done = false; !done;) {
    const Action action = Action::discrete(3 + steps_b % 3);
    StepResult summed;
    for (int i = 0; i < 3 && !summed.done(); ++i) {
      const StepResult r = a.step(action, frame_a.data());
      summed.reward += r.reward;
      summed.terminated = r.terminated, summed.truncated = r.truncated;
    }
    const StepResult r = b.step(action, frame_b.data());
    ++steps_b;
    EXPECT_FLOAT_EQ(r.reward, summed.reward) << "step " << steps_b;
    EXPECT_EQ(r.terminated, summed.terminated);
    EXPECT_EQ(r.truncated, summed.truncated);
    EXPECT_TRUE(frame_a == frame_b) << "step " << steps_b;  // one frame, after the last tick
    done = r.done();
  }
  EXPECT_EQ(b.steps(), 30);
  EXPECT_EQ(a.steps(), 30);
  EXPECT_EQ(steps_b, 10);  // 30 ticks, 3 per step
  EXPECT_NE(error_of([] { DrivingOptions bad; bad.action_repeat = 0; DrivingEnv env(bad); }).find("action_repeat 0"), std::string::npos);
}

// Braking from full speed to a stop: the bar read back from each frame follows the car's
// speed to within a pixel of the slot (1/32 at 64 x 64), at two frame sizes.
TEST(DrivingEnv, TheSpeedBarReadBackFromAFrameIsTheCarsSpeed) {
  for (const auto [height, width] : {std::pair{64, 64}, std::pair{64, 128}}) {
    DrivingOptions options;
    options.height = height;
    options.width = width;
    DrivingEnv env(options);
    std::vector<uint8_t> frame(env.frame_spec().bytes());
    env.reset(3, frame.data());
    double lowest = 1.0, highest = 0.0;
    for (int t = 0; t < 90; ++t) {
      const int throttle = t < 50 ? 2 : 0;  // accelerate to full speed, then brake to a stop
      env.step(Action::discrete(3 + throttle), frame.data());
      const double speed = env.speed() / env.physics().max_speed;
      EXPECT_NEAR(read_speed_bar(frame.data(), height, width), speed, 1.5 / (0.5 * width)) << "step " << t << ", " << height << "x" << width;
      lowest = std::min(lowest, speed);
      highest = std::max(highest, speed);
    }
    EXPECT_LT(lowest, 0.05);  // the test covered the whole bar
    EXPECT_GT(highest, 0.95);
  }
}

TEST(DrivingEnv, ExpertBeatsRandomByAWideMargin) {
  DrivingOptions options;
  options.max_steps = 400;
  double expert_total = 0, random_total = 0;
  for (uint64_t seed = 100; seed < 104; ++seed) {
    DrivingEnv env(options);
    DrivingExpert expert;
    expert_total += run_episode(env, seed, [&](const DrivingEnv& e) { return expert.act(e); }).total_reward;
    RandomPolicy random(env.action_space(), seed);
    random_total += run_episode(env, seed, [&](const DrivingEnv&) { return random.act(); }).total_reward;
  }
  EXPECT_GT(expert_total, 4.0 * std::max(random_total, 1.0)) << "expert " << expert_total << " random " << random_total;
  EXPECT_GT(expert_total / 4, 0.6 * 400);  // mostly near full speed, rarely crashing
}

TEST(ThreadedVectorEnv, ResetsFinishedEpisodesWithFreshSeeds) {
  DrivingOptions options;
  options.max_steps = 5;
  std::vector<std::unique_ptr<Env>> envs;
  for (int i = 0; i < 3; ++i) envs.push_back(std::make_unique<DrivingEnv>(options));
  ThreadedVectorEnv vec(std::move(envs));
  std::vector<uint8_t> frames(3 * vec.frame_spec().bytes());
  vec.reset(10, frames.data());

  // Env 1 alone, reset with seed 11, gives the same first frame as slot 1.
  DrivingEnv single(options);
  std::vector<uint8_t> frame(vec.frame_spec().bytes());
  single.reset(11, frame.data());
  EXPECT_TRUE(std::equal(frame.begin(), frame.end(), frames.begin() + vec.frame_spec().bytes()));

  std::vector<StepResult> results;
  std::vector<Action> actions(3, Action::discrete(4));
  for (int t = 0; t < 5; ++t) vec.step(actions, frames.data(), results);
  for (const auto& r : results) EXPECT_TRUE(r.truncated);
  // After the automatic reset slot 1 shows the first frame of seed 11 + 3 = 14.
  single.reset(14, frame.data());
  EXPECT_TRUE(std::equal(frame.begin(), frame.end(), frames.begin() + vec.frame_spec().bytes()));
  EXPECT_NE(error_of([&] { vec.step({Action::discrete(1)}, frames.data(), results); }).find("got 1 actions for 3"),
            std::string::npos);
}

}  // namespace
}  // namespace wm::envs
