#include "envs/env_options.h"

#include "core/error.h"
#include "envs/driving_env.h"
#include "envs/gym_vector_env.h"

namespace wm::envs {

void describe(core::ConfigSchema& schema, EnvOptions& env) {
  schema.add("id", &env.id, "'driving' (built in, no Python) or a Gymnasium id such as ALE/Pong-v5");
  schema.add("num_envs", &env.num_envs, "environments stepped together", core::between(1, 1024));
  schema.add("height", &env.height, "frame height in pixels", core::between(1, 16384));
  schema.add("width", &env.width, "frame width in pixels", core::between(1, 16384));
  schema.add("max_steps", &env.max_steps, "driving: steps before truncation", core::at_least(1));
  schema.add("supersample", &env.supersample, "driving: render at Nx and average (anti-aliasing)", core::between(1, 8));
  schema.add("continuous", &env.continuous, "driving: [steer, throttle] actions instead of 9 discrete");
  schema.add("max_offroad_steps", &env.max_offroad_steps, "driving: off the road this long ends the episode", core::at_least(1));
  schema.add("action_repeat", &env.action_repeat, "driving: physics ticks per step under one action, rewards summed (max_steps counts ticks)", core::between(1, 100));
  schema.add("frame_skip", &env.frame_skip, "Gymnasium: frames per action, max-pooled over the last 2", core::between(1, 100));
  schema.add("sticky_actions", &env.sticky_actions, "Gymnasium: repeat_action_probability (IRIS: 0)", core::between(0, 1));
  schema.add("life_loss_ends_episode", &env.life_loss_ends_episode, "Atari: a lost life ends the episode");
  schema.add("max_frames", &env.max_frames, "Gymnasium: emulator frames before truncation (108k = 30 min)", core::at_least(0));
  schema.add("noop_max", &env.noop_max, "Atari: up to N random no-ops after reset", core::at_least(0));
  schema.add("worker_timeout_s", &env.worker_timeout_s, "Gymnasium: a worker silent this long is hung", core::at_least(0));
  schema.add("python", &env.python, "Gymnasium: worker interpreter; empty = the project's .venv");
}

bool is_builtin_env(const std::string& id) { return id == "driving"; }

std::unique_ptr<VectorEnv> make_vector_env(const EnvOptions& options) {
  if (options.num_envs < 1) throw core::Error("env.num_envs must be at least 1, got " + std::to_string(options.num_envs));
  if (!is_builtin_env(options.id)) return std::make_unique<GymVectorEnv>(options);
  if (options.action_repeat < 1 || options.action_repeat > 100) {
    throw core::Error("env.action_repeat = " + std::to_string(options.action_repeat) + " is outside 1..100");
  }
  DrivingOptions driving;
  driving.height = options.height;
  driving.width = options.width;
  driving.supersample = options.supersample;
  driving.max_steps = options.max_steps;
  driving.continuous = options.continuous;
  driving.max_offroad_steps = options.max_offroad_steps;
  driving.action_repeat = options.action_repeat;
  std::vector<std::unique_ptr<Env>> envs;
  for (int64_t i = 0; i < options.num_envs; ++i) envs.push_back(std::make_unique<DrivingEnv>(driving));
  return std::make_unique<ThreadedVectorEnv>(std::move(envs));
}

}  // namespace wm::envs
