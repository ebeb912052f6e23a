// The scripted driver of the driving game, whose return is the reference for learned
// policies: it looks ahead along the road, steers to the centre of its lane (with a
// feed-forward term against the drift in curves), brakes before curves too sharp for its
// speed, and changes lane around slower cars.
#pragma once

#include "envs/driving_env.h"

namespace wm::envs {

class DrivingExpert {
 public:
  explicit DrivingExpert(bool continuous = false) : continuous_(continuous) {}

  Action act(const DrivingEnv& env);
  void reset() { target_lane_ = 1; }

 private:
  // Whether `lane` has a car within [behind, ahead] of distance z.
  static bool lane_busy(const DrivingEnv& env, int lane, double behind, double ahead);
  // The speed at which the sharpest curve within braking distance can still be held.
  static double safe_speed(const DrivingEnv& env);

  bool continuous_;
  int target_lane_ = 1;
};

// Uniformly random actions from a seeded generator.
class RandomPolicy {
 public:
  RandomPolicy(const ActionSpace& space, uint64_t seed) : space_(space), rng_(seed) {}
  Action act();

 private:
  ActionSpace space_;
  std::mt19937_64 rng_;
};

}  // namespace wm::envs
