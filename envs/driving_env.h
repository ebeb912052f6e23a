// The built-in `driving` game: a first-person road drawn in pseudo-3D, with curves, traffic
// to overtake and a speed bar. Native C++, deterministic per seed and action sequence.
//
// Actions, discrete (9): index = 3 * steer + throttle, steer 0|1|2 = left|straight|right,
// throttle 0|1|2 = brake|coast|accelerate. Continuous: [steer, throttle] in [-1, 1]^2
// (throttle < 0 brakes).
// Reward per step: speed / max speed (forward progress, in [0, 1]); 0.3 less while off the
// road; -1 for hitting a car. Episodes end on a crash or after `max_offroad_steps` off the
// road (terminated) or after `max_steps` (truncated). With action_repeat k, one step is k
// physics ticks under the same action.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "envs/driving_track.h"
#include "envs/env.h"

namespace wm::envs {

struct DrivingOptions {
  int height = 64;                // frame size; any size works (64x128 for 8x16 token grids)
  int width = 64;
  int supersample = 2;            // render at 2x and average: anti-aliased edges
  int64_t max_steps = 1000;       // truncation, as the default
  int64_t max_offroad_steps = 30; // 3 s at 10 steps/s: time enough to come back
  // Physics ticks per step: the action held for this many ticks, their rewards summed, one
  // frame at the end (Atari's frame skip; DQN and IRIS use 4). max_steps and
  // max_offroad_steps count ticks, so an episode covers the same road whatever the repeat.
  int64_t action_repeat = 1;
  bool continuous = false;        // box actions [steer, throttle] instead of 9 discrete
  double traffic_gap_min = 20.0;  // road units between consecutive cars ahead
  double traffic_gap_max = 50.0;
};

// Constants of the car and the road; the expert plans with the same numbers.
struct DrivingPhysics {
  double max_speed = 1.2;          // road units per step
  double accel = 0.024;            // full throttle: 0 -> max in 50 steps
  double brake = 0.07;
  double drag = 0.006;             // coasting slows slowly
  double steer_rate = 0.08;        // lateral units per step per unit speed at full lock
  double centrifugal = 1.55;       // drift outwards: curvature * speed^2 * this
  double offroad_speed = 0.45;     // speed decays towards this off the road
  double lane_width = 2.0 / 3.0;   // three lanes on a road 2 wide
  double car_length = 0.9;
  double car_width = 0.5;
  double lane_centre(int lane) const { return (lane - 1) * lane_width; }
};

struct TrafficCar {
  double z;      // distance along the road
  double x;      // lateral position (a lane centre)
  double speed;  // road units per step
  int color;     // palette index
};

class DrivingEnv : public Env {
 public:
  explicit DrivingEnv(DrivingOptions options = {});
  ~DrivingEnv() override;

  std::string name() const override { return "driving"; }
  FrameSpec frame_spec() const override { return {options_.height, options_.width}; }
  const ActionSpace& action_space() const override { return action_space_; }
  void reset(uint64_t seed, uint8_t* frame) override;
  StepResult step(const Action& action, uint8_t* frame) override;

  // State, for the scripted expert and the tests.
  const DrivingPhysics& physics() const { return physics_; }
  const DrivingTrack& track() const { return track_; }
  const std::vector<TrafficCar>& traffic() const { return traffic_; }
  double z() const { return z_; }
  double x() const { return x_; }
  double speed() const { return speed_; }
  int64_t steps() const { return steps_; }  // physics ticks since the reset
  bool on_road() const { return std::abs(x_) <= 1.0; }

  // Maps an action to (steer, throttle) in [-1, 1]^2.
  static void decode_action(const Action& action, bool continuous, double& steer, double& throttle);

 private:
  // One physics tick under (steer, throttle); the frame is not drawn.
  StepResult tick(double steer, double throttle);
  void render(uint8_t* frame);
  bool hit_traffic(double z_before);

  DrivingOptions options_;
  DrivingPhysics physics_;
  ActionSpace action_space_;
  std::mt19937_64 rng_;
  DrivingTrack track_;
  std::vector<TrafficCar> traffic_;
  double z_ = 0, x_ = 0, speed_ = 0;
  int64_t steps_ = 0, offroad_steps_ = 0;
  std::vector<uint8_t> canvas_;  // supersampled frame
};

}  // namespace wm::envs
