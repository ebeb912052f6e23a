#include "envs/driving_env.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "envs/driving_renderer.h"

namespace wm::envs {

DrivingEnv::DrivingEnv(DrivingOptions options) : options_(options) {
  if (options_.height < 16 || options_.width < 16 || options_.height > 4096 || options_.width > 4096) {
    throw core::Error("driving: frame size " + std::to_string(options_.height) + "x" +
                      std::to_string(options_.width) + " is outside 16..4096");
  }
  if (options_.supersample < 1 || options_.supersample > 8) {
    throw core::Error("driving: supersample " + std::to_string(options_.supersample) + " is outside 1..8");
  }
  if (options_.action_repeat < 1 || options_.action_repeat > 100) {
    throw core::Error("driving: action_repeat " + std::to_string(options_.action_repeat) + " is outside 1..100");
  }
  action_space_ = options_.continuous ? ActionSpace::box({-1.f, -1.f}, {1.f, 1.f}) : ActionSpace::discrete(9);
}

DrivingEnv::~DrivingEnv() = default;

void DrivingEnv::decode_action(const Action& action, bool continuous, double& steer, double& throttle) {
  if (continuous) {
    steer = action.values[0];
    throttle = action.values[1];
  } else {
    steer = static_cast<double>(action.index / 3) - 1.0;
    throttle = static_cast<double>(action.index % 3) - 1.0;
  }
}

void DrivingEnv::reset(uint64_t seed, uint8_t* frame) {
  rng_.seed(seed);
  const double length = physics_.max_speed * static_cast<double>(options_.max_steps) + 200.0;
  track_ = DrivingTrack(rng_, length);

  std::uniform_real_distribution<double> unit(0.0, 1.0);
  traffic_.clear();
  for (double z = 40.0 + 20.0 * unit(rng_); z < length;
       z += options_.traffic_gap_min + (options_.traffic_gap_max - options_.traffic_gap_min) * unit(rng_)) {
    const int lane = static_cast<int>(unit(rng_) * 3.0) % 3;
    const double speed = physics_.max_speed * (0.45 + 0.3 * unit(rng_));
    traffic_.push_back({z, physics_.lane_centre(lane), speed, static_cast<int>(unit(rng_) * 6.0) % 6});
  }
  z_ = 0.0;
  x_ = physics_.lane_centre(1);
  speed_ = 0.3 * physics_.max_speed;
  steps_ = 0;
  offroad_steps_ = 0;
  render(frame);
}

bool DrivingEnv::hit_traffic(double z_before) {
  for (const TrafficCar& car : traffic_) {
    if (std::abs(car.x - x_) >= physics_.car_width) continue;
    // Gap before and after this step (both moved): a collision if the gap passed through
    // the overlap interval, so a fast car cannot jump over a slow one between frames.
    const double gap_before = (car.z - car.speed) - z_before;
    const double gap_after = car.z - z_;
    const double lo = std::min(gap_before, gap_after), hi = std::max(gap_before, gap_after);
    if (hi > -physics_.car_length && lo < physics_.car_length) return true;
  }
  return false;
}

StepResult DrivingEnv::step(const Action& action, uint8_t* frame) {
  validate_action(action_space_, action, "driving");
  double steer = 0, throttle = 0;
  decode_action(action, options_.continuous, steer, throttle);
  StepResult result;
  for (int64_t i = 0; i < options_.action_repeat && !result.done(); ++i) {
    const StepResult ticked = tick(steer, throttle);
    result.reward += ticked.reward;
    result.terminated = ticked.terminated;
    result.truncated = ticked.truncated;
  }
  render(frame);
  return result;
}

StepResult DrivingEnv::tick(double steer, double throttle) {
  const DrivingPhysics& p = physics_;
  if (throttle > 0) speed_ += p.accel * throttle;
  else if (throttle < 0) speed_ += p.brake * throttle;
  else speed_ -= p.drag;
  if (!on_road() && speed_ > p.offroad_speed) speed_ -= 0.15 * (speed_ - p.offroad_speed);
  speed_ = std::clamp(speed_, 0.0, p.max_speed);

  const double z_before = z_;
  x_ += steer * p.steer_rate * speed_ - track_.curvature(z_) * speed_ * speed_ * p.centrifugal;
  x_ = std::clamp(x_, -3.0, 3.0);  // fences beyond the grass
  z_ += speed_;
  for (TrafficCar& car : traffic_) car.z += car.speed;
  ++steps_;

  StepResult result;
  result.reward = static_cast<float>(speed_ / p.max_speed);
  if (!on_road()) {
    result.reward -= 0.3f;
    if (++offroad_steps_ >= options_.max_offroad_steps) result.terminated = true;
  } else {
    offroad_steps_ = 0;
  }
  if (hit_traffic(z_before)) {
    result.reward = -1.0f;
    result.terminated = true;
  }
  result.truncated = !result.terminated && steps_ >= options_.max_steps;
  return result;
}

void DrivingEnv::render(uint8_t* frame) {
  DrivingScene scene{&track_, &traffic_, &physics_, z_, x_, speed_ / physics_.max_speed};
  render_driving_frame(scene, options_.height, options_.width, options_.supersample, canvas_, frame);
}

}  // namespace wm::envs
