// Rotary position embedding (RoFormer; GPT-NeoX's half-split form): queries and keys are
// rotated by angles proportional to their position, so attention scores depend on relative
// offsets. For the world model this makes "the token at the same place in the previous
// frame" one fixed offset (K positions back) for every place in the frame, instead of a
// relation between two learned absolute positions that each place must learn apart.
#pragma once

#include <ATen/core/Tensor.h>

namespace wm::dynamics {

class RotaryEmbedding {
 public:
  RotaryEmbedding(int64_t head_dim, int64_t max_positions, double base = 10000.0);

  // x [B, heads, T, head_dim] at positions first..first + T - 1 -> rotated, same shape.
  at::Tensor rotate(const at::Tensor& x, int64_t first) const;

  // x [B, heads, N, head_dim] at the given positions (int64 [N], any order) -> rotated.
  at::Tensor rotate_at(const at::Tensor& x, const at::Tensor& positions) const;

  // cos / sin of the angles at positions first..first + count - 1: [count, head_dim] fp32 on
  // the CPU, the two halves equal (channel i and i + head_dim/2 share an angle).
  at::Tensor cos_rows(int64_t first, int64_t count) const { return cos_.narrow(0, first, count); }
  at::Tensor sin_rows(int64_t first, int64_t count) const { return sin_.narrow(0, first, count); }

  // Throws unless positions first..first + count - 1 have angles.
  void check_range(int64_t first, int64_t count) const;

 private:
  at::Tensor cos_, sin_;  // [max_positions, head_dim], on the CPU in fp32; moved on use
};

}  // namespace wm::dynamics
