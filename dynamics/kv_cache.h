// Keys and values of every attention layer for B sequences, preallocated for the model's
// whole context (L * (K + 1) positions), so imagination appends a token without allocating.
// `heads` are the model's key/value heads (fewer than its query heads with grouped-query
// attention). Two layouts:
// - head-major: [B, heads, capacity, head_dim] per layer, in the model's dtype (fp32, or bf16
//   on a GPU): what scaled_dot_product_attention reads;
// - packed bf16 (CPU with AVX512-BF16): the layout of dynamics/packed_attention_kernel.h, half
//   the bytes of fp32, read by that kernel at the dot-product instruction's rate.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

namespace wm::dynamics {

enum class KVLayout { kHeadMajor, kPackedBf16 };

class KVCache {
 public:
  KVCache(int64_t layers, int64_t batch, int64_t heads, int64_t capacity, int64_t head_dim, const at::TensorOptions& options,
          KVLayout layout = KVLayout::kHeadMajor);

  int64_t length() const { return length_; }  // positions held
  int64_t capacity() const { return capacity_; }
  int64_t batch() const { return batch_; }
  int64_t heads() const { return heads_; }
  int64_t head_dim() const { return head_dim_; }
  KVLayout layout() const { return layout_; }
  void clear() { length_ = 0; }

  // Writes k, v [B, heads, T, head_dim] of `layer` at positions [length, length + T). The
  // length moves on with advance(T), once every layer has appended.
  void append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  void advance(int64_t positions);
  // Head-major layout: the first `positions` keys and values of `layer`, [B, heads,
  // positions, head_dim] (views, no copy).
  std::pair<at::Tensor, at::Tensor> view(int64_t layer, int64_t positions) const;
  // Packed layout: [B, heads, padded capacity * head_dim] bf16 per layer.
  const at::Tensor& packed_keys(int64_t layer) const { return keys_[layer]; }
  const at::Tensor& packed_values(int64_t layer) const { return values_[layer]; }

  // Whether the packed layout can serve heads of this width on this machine.
  static bool packed_layout_available(int64_t head_dim);

 private:
  std::vector<at::Tensor> keys_, values_;
  int64_t batch_, heads_, capacity_, head_dim_;
  KVLayout layout_;
  int64_t length_ = 0;
};

}  // namespace wm::dynamics
