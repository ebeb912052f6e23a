// The attention input from the fused q/k/v projection: split into heads, with queries and
// keys rotated by their positions (rotary embedding). On the CPU in fp32/fp64/bf16 this is
// one op with its own kernel: the forward pass reads the projection once and writes q, k, v
// contiguous (bf16 rotated in fp32, rounded once); the backward pass writes the projection's
// gradient in one pass. The ATen composite (view, unbind, rotate: ~5 passes over q and k each
// way, plus the stacking of the three gradients and a copy to make it contiguous) remains for
// CUDA and the tests that compare the two.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>

#include "dynamics/rotary_embedding.h"

namespace wm::dynamics {

// qkv [B, T, (heads + 2 kv_heads) * head_dim] (q, k, v sections in that order; kv_heads
// divides heads: grouped key/value heads) at positions first..first + T - 1 -> {q [B, heads,
// T, head_dim], k, v [B, kv_heads, T, head_dim]}. `rotary` null: no rotation. Differentiable
// in qkv.
std::array<at::Tensor, 3> attention_heads(const at::Tensor& qkv, int64_t heads, int64_t kv_heads, const RotaryEmbedding* rotary,
                                          int64_t first);
std::array<at::Tensor, 3> attention_heads(const at::Tensor& qkv, int64_t heads, const RotaryEmbedding* rotary, int64_t first);

// The composite of ATen ops, for tests and the fallback.
std::array<at::Tensor, 3> attention_heads_reference(const at::Tensor& qkv, int64_t heads, int64_t kv_heads, const RotaryEmbedding* rotary,
                                                    int64_t first);
std::array<at::Tensor, 3> attention_heads_reference(const at::Tensor& qkv, int64_t heads, const RotaryEmbedding* rotary,
                                                    int64_t first);

// Whether attention_heads takes the fused kernel for this input.
bool attention_heads_is_fused(const at::Tensor& qkv);

}  // namespace wm::dynamics
