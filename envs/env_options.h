// Which environment a run uses and how it is set up (the `env:` section of a config).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/config_schema.h"
#include "envs/vector_env.h"

namespace wm::envs {

struct EnvOptions {
  std::string id = "driving";  // the built-in game, or a Gymnasium id such as ALE/Pong-v5
  int64_t num_envs = 4;        // stepped together; threads (driving) or processes (Gymnasium)
  int height = 64;             // frame size; IRIS uses 64x64 for Atari
  int width = 64;
  // driving
  int64_t max_steps = 1000;        // truncation of a driving episode
  int supersample = 2;             // anti-aliasing factor of the renderer
  bool continuous = false;         // [steer, throttle] box actions instead of 9 discrete
  int64_t max_offroad_steps = 30;  // off the road this long ends the episode
  int64_t action_repeat = 1;       // physics ticks per step, the action held (driving's frame skip)
  // Gymnasium bridge (Atari preprocessing as in IRIS)
  int frame_skip = 4;                 // repeat each action 4 frames, max over the last 2
  double sticky_actions = 0.0;        // repeat_action_probability; IRIS uses none
  bool life_loss_ends_episode = false;  // IRIS: true while training, false for evaluation
  int64_t max_frames = 108000;        // 30 minutes of Atari at 60 Hz
  int noop_max = 30;                  // random no-ops after reset diversify starts
  double worker_timeout_s = 60.0;     // a worker silent this long is declared hung
  std::string python = "";            // interpreter for the workers; empty = <repo>/.venv/bin/python
};

void describe(core::ConfigSchema& schema, EnvOptions& env);

bool is_builtin_env(const std::string& id);

// N environments as the options say; seeds are given at reset.
std::unique_ptr<VectorEnv> make_vector_env(const EnvOptions& options);

}  // namespace wm::envs
