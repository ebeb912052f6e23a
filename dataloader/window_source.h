// What the window sampler draws from: a set of episodes of per-step observations (frames,
// or token grids), actions, rewards and dones. The episode store implements it; video
// datasets and token shards will too, so trainers never care where steps come from.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace wm::dataloader {

// B windows of L steps. Where a window reaches before its episode's start the steps are
// zero and mask is false (IRIS pads the same way).
struct WindowBatch {
  at::Tensor observations;  // [B, L, ...] e.g. uint8 [B, L, H, W, 3]
  at::Tensor actions;       // int64 [B, L] or float32 [B, L, A]
  at::Tensor rewards;       // float32 [B, L]
  at::Tensor dones;         // uint8 [B, L]
  at::Tensor mask;          // bool [B, L]: true on real steps
};

class WindowSource {
 public:
  virtual ~WindowSource() = default;
  virtual int64_t num_episodes() const = 0;
  virtual int64_t episode_length(int64_t episode) const = 0;
  // Per-step shape and dtype of observations, e.g. {64, 64, 3} uint8.
  virtual std::vector<int64_t> observation_shape() const = 0;
  virtual at::ScalarType observation_dtype() const = 0;
  // 0 for discrete actions, else the length of the action vector.
  virtual int64_t action_dim() const = 0;
  // Discrete actions: how many the data uses (the largest index + 1), or 0 when a source
  // cannot tell without decoding everything.
  virtual int64_t discrete_action_count() const { return 0; }
  // How likely each episode is to supply a window, relative to the others (any scale); empty:
  // in proportion to its length, so every step is equally likely.
  virtual std::vector<double> episode_weights() const { return {}; }
  // Copies steps [start, start + count) of `episode` into row `row` of `batch`, at window
  // position `offset`.
  virtual void read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row,
                          int64_t offset) const = 0;
};

}  // namespace wm::dataloader
