// What acts in a vector of environments: `wm collect`, `wm eval` and `wm train all` ask an
// agent for one action per slot from the slots' current frames, whatever it is — uniformly
// random, the driving game's scripted expert, or a trained policy (policy/policy_agent.h).
//
//   std::unique_ptr<Agent> agent = std::make_unique<RandomAgent>(env.action_space(), env.size(), seed);
//   env.reset(seed, frames.data());
//   for (;;) {
//     actions = agent->act(frames_tensor);          // uint8 [N, H, W, 3]
//     env.step(actions, frames.data(), results);
//     for (i : slots whose results[i].done()) agent->episode_ended(i);
//   }
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "envs/driving_expert.h"
#include "envs/vector_env.h"

namespace wm::envs {

class Agent {
 public:
  virtual ~Agent() = default;
  virtual std::string name() const = 0;
  // frames: uint8 [N, H, W, 3], the current frame of every slot -> N actions.
  virtual std::vector<Action> act(const at::Tensor& frames) = 0;
  // Slot i's episode ended; its next frame starts a new one (recurrent state starts over).
  virtual void episode_ended(int64_t /*slot*/) {}
};

// Uniformly random actions, one seeded generator per slot.
class RandomAgent : public Agent {
 public:
  RandomAgent(const ActionSpace& space, int64_t slots, uint64_t seed);
  std::string name() const override { return "random"; }
  std::vector<Action> act(const at::Tensor& frames) override;

 private:
  std::vector<RandomPolicy> slots_;
};

// The driving game's scripted driver. It reads the game's state rather than the frames (a
// reference, not a learner), so it needs the native driving environments themselves.
class DrivingExpertAgent : public Agent {
 public:
  // Throws wm::core::Error naming the environment when it is not the built-in driving game.
  explicit DrivingExpertAgent(VectorEnv& env);
  std::string name() const override { return "expert"; }
  std::vector<Action> act(const at::Tensor& frames) override;
  void episode_ended(int64_t slot) override { experts_[static_cast<size_t>(slot)].reset(); }

 private:
  ThreadedVectorEnv* env_;
  std::vector<DrivingExpert> experts_;
};

// Another agent whose actions are, for a share `epsilon` of each slot's steps, replaced by
// uniformly random ones: demonstrations that also show what the other actions do (a world
// model that only saw the expert's choices cannot tell the policy what a swerve costs). With
// `hold` > 1 each random action is held for 1..2 hold - 1 steps (hold on average): one step of
// steering moves a car a tenth of a lane, so a world model sees what steering does only when
// it is sustained.
class ExploringAgent : public Agent {
 public:
  // Throws wm::core::Error when epsilon is outside [0, 1] or hold below 1.
  ExploringAgent(std::unique_ptr<Agent> inner, const ActionSpace& space, int64_t slots, double epsilon, uint64_t seed, int64_t hold = 1);
  std::string name() const override;
  std::vector<Action> act(const at::Tensor& frames) override;
  void episode_ended(int64_t slot) override;

 private:
  struct Excursion {
    Action action;
    int64_t steps_left = 0;
  };
  std::unique_ptr<Agent> inner_;
  RandomAgent random_;
  double epsilon_;
  int64_t hold_;
  double start_chance_;  // per step outside an excursion: the share of random steps is epsilon
  std::vector<Excursion> excursions_;
  std::mt19937_64 coin_;
};

// Plays `episodes` whole episodes with `agent` on `env` (reset from `seed`) and returns their
// returns in the order they finished. Episodes still running once enough have finished are
// dropped, so slow episodes do not bias the count.
std::vector<double> play_episodes(Agent& agent, VectorEnv& env, int64_t episodes, uint64_t seed);

// Mean and (population) standard deviation of episode returns; zeros for none.
struct ReturnStats {
  double mean = 0, std = 0;
};
ReturnStats summarize_returns(const std::vector<double>& returns);

}  // namespace wm::envs
