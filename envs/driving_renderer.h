// Draws one frame of the driving game: sky with parallax hills, the road in pseudo-3D (one
// projected distance per screen row), roadside objects and traffic as scaled sprites, and
// the dashboard with the speed bar. Renders at `supersample` times the size and averages
// blocks down, which anti-aliases every edge.
#pragma once

#include <cstdint>
#include <vector>

#include "envs/driving_env.h"

namespace wm::envs {

struct DrivingScene {
  const DrivingTrack* track;
  const std::vector<TrafficCar>* traffic;
  const DrivingPhysics* physics;
  double z;               // camera position along the road
  double x;               // camera lateral position
  double speed_fraction;  // speed / max speed, for the bar
};

// `canvas` is scratch space reused across calls; `out` receives height x width x 3 bytes.
void render_driving_frame(const DrivingScene& scene, int height, int width, int supersample,
                          std::vector<uint8_t>& canvas, uint8_t* out);

// The speed the dashboard bar shows, read back from a frame (uint8 height x width x 3, any
// source: rendered, reconstructed by a tokenizer, or dreamed): the share of the bar's slot
// filled with the bar's saturated colours along its middle row, in [0, 1]. What a model's
// frames say about the speed, the one quantity the game's reward is made of.
double read_speed_bar(const uint8_t* frame, int height, int width);

}  // namespace wm::envs
