// One episode of experience, as stored on disk (DESIGN.md): step t holds the frame seen,
// the action taken, the reward received and whether the episode ended after it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace wm::dataloader {

struct Episode {
  at::Tensor frames;   // uint8 [T, H, W, 3]
  at::Tensor actions;  // int64 [T] (discrete) or float32 [T, A] (continuous)
  at::Tensor rewards;  // float32 [T]
  at::Tensor dones;    // uint8 [T]

  int64_t length() const { return frames.defined() ? frames.size(0) : 0; }
  // Throws wm::core::Error naming `where` and the offending array when dtypes or lengths
  // disagree with the layout above.
  void validate(const std::string& where) const;
};

}  // namespace wm::dataloader
