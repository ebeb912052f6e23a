#include "envs/driving_expert.h"

#include <algorithm>
#include <cmath>

namespace wm::envs {

bool DrivingExpert::lane_busy(const DrivingEnv& env, int lane, double behind, double ahead) {
  const double centre = env.physics().lane_centre(lane);
  for (const TrafficCar& car : env.traffic()) {
    const double gap = car.z - env.z();
    if (std::abs(car.x - centre) < 0.1 && gap > -behind && gap < ahead) return true;
  }
  return false;
}

double DrivingExpert::safe_speed(const DrivingEnv& env) {
  const DrivingPhysics& p = env.physics();
  const double v = env.speed();
  const double braking = v * v / (2.0 * p.brake) * p.max_speed + 12.0;
  const double curvature = env.track().max_curvature_ahead(env.z(), braking);
  if (curvature < 1e-6) return p.max_speed;
  // Holding a curve needs steer = curvature * v * centrifugal / steer_rate <= 1; keep 25%
  // of the steering for lane keeping.
  return std::min(p.max_speed, 0.75 * p.steer_rate / (curvature * p.centrifugal));
}

Action DrivingExpert::act(const DrivingEnv& env) {
  const DrivingPhysics& p = env.physics();
  const double v = env.speed(), x = env.x(), z = env.z();
  const double look = 10.0 + 25.0 * v / p.max_speed;

  // Change lane when a car ahead blocks ours and a neighbouring lane is clear.
  bool blocked = lane_busy(env, target_lane_, 0.5, look);
  if (blocked) {
    for (int lane : {target_lane_ == 0 ? 1 : target_lane_ - 1, target_lane_ == 2 ? 1 : target_lane_ + 1}) {
      if (!lane_busy(env, lane, 3.0, look + 5.0)) {
        target_lane_ = lane;
        blocked = false;
        break;
      }
    }
  }

  // Steering: close a third of the lateral error this step, plus cancel the curve's drift.
  const double target_x = p.lane_centre(target_lane_);
  const double drift = env.track().curvature(z) * v * v * p.centrifugal;
  const double wanted = std::clamp(0.35 * (target_x - x), -0.2, 0.2);
  const double steer = std::clamp((wanted + drift) / (p.steer_rate * std::max(v, 0.05)), -1.0, 1.0);

  // Speed: as fast as the curves allow; behind a car with nowhere to go, match its speed.
  double target_speed = safe_speed(env);
  if (blocked) {
    for (const TrafficCar& car : env.traffic()) {
      const double gap = car.z - z;
      if (std::abs(car.x - target_x) < 0.1 && gap > 0 && gap < look) {
        target_speed = std::min(target_speed, gap < 4.0 ? 0.0 : car.speed * 0.9);
      }
    }
  }
  const double throttle = v < target_speed - 0.02 ? 1.0 : (v > target_speed + 0.02 ? -1.0 : 0.0);

  if (continuous_) return Action::box({static_cast<float>(steer), static_cast<float>(throttle)});
  const int steer_index = steer < -0.3 ? 0 : (steer > 0.3 ? 2 : 1);
  const int throttle_index = static_cast<int>(throttle) + 1;
  return Action::discrete(3 * steer_index + throttle_index);
}

Action RandomPolicy::act() {
  if (space_.is_discrete()) {
    return Action::discrete(std::uniform_int_distribution<int64_t>(0, space_.n - 1)(rng_));
  }
  std::vector<float> values(static_cast<size_t>(space_.dim));
  for (int64_t i = 0; i < space_.dim; ++i) {
    values[i] = std::uniform_real_distribution<float>(space_.low[i], space_.high[i])(rng_);
  }
  return Action::box(std::move(values));
}

}  // namespace wm::envs
