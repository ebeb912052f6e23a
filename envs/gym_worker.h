// One Gymnasium environment in a Python worker process (envs/python/gym_worker.py):
// commands and replies as JSON lines over pipes, frames through shared memory.
//
// The worker dies with wm whatever way wm ends: it gets SIGKILL when its parent dies
// (PR_SET_PDEATHSIG), it runs in its own process group so a terminal's Ctrl-C reaches only
// wm, and the destructor closes it and reaps it. A worker that crashes, hangs past the
// timeout or raises becomes a one-line wm::core::Error naming the env id and the cause.
#pragma once

#include <chrono>

#include <sys/types.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "envs/env.h"

namespace wm::envs {

struct GymWorkerOptions {
  std::string env_id;
  std::string python;       // interpreter with gymnasium and ale-py
  std::string worker_script;
  FrameSpec frame;
  int frame_skip = 4;
  double sticky_actions = 0.0;
  bool life_loss_ends_episode = false;
  int64_t max_frames = 108000;
  int noop_max = 30;
  double timeout_s = 60.0;
};

class GymWorker {
 public:
  explicit GymWorker(const GymWorkerOptions& options);
  ~GymWorker();
  GymWorker(const GymWorker&) = delete;
  GymWorker& operator=(const GymWorker&) = delete;

  const ActionSpace& action_space() const { return action_space_; }
  pid_t pid() const { return pid_; }

  // Split into send and receive so a vector of workers runs in parallel.
  void send(const nlohmann::json& command);
  nlohmann::json receive();
  // The frame the worker wrote for its last reset or step.
  const uint8_t* frame() const { return frame_; }

 private:
  [[noreturn]] void fail(const std::string& what);
  // After a broken pipe: reaps the worker; how it ended ("was killed by signal 9", ...).
  std::string reap_dead_worker();
  // Polls for the worker's exit up to `limit`; true (and its status) when it was reaped.
  bool wait_for_exit(std::chrono::milliseconds limit, int& status);
  void shutdown();  // closes, reaps and unmaps; safe to call twice
  std::string stderr_tail() const;

  GymWorkerOptions options_;
  pid_t pid_ = -1;
  int to_worker_ = -1, from_worker_ = -1;
  int stderr_fd_ = -1;  // the worker's stderr: an unlinked file both sides hold open
  std::string shm_name_;
  uint8_t* frame_ = nullptr;
  std::string buffer_;  // bytes read past the last newline
  ActionSpace action_space_;
};

}  // namespace wm::envs
