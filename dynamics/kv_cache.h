// Keys and values of every attention layer for B sequences, preallocated for the model's
// whole context (L * (K + 1) positions), so imagination appends a token without allocating.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

namespace wm::dynamics {

class KVCache {
 public:
  // Per layer: keys and values [B, heads, capacity, head_dim].
  KVCache(int64_t layers, int64_t batch, int64_t heads, int64_t capacity, int64_t head_dim, const at::TensorOptions& options);

  int64_t length() const { return length_; }  // positions held
  int64_t capacity() const { return capacity_; }
  int64_t batch() const { return batch_; }
  void clear() { length_ = 0; }

  // Writes k, v [B, heads, T, head_dim] of `layer` at positions [length, length + T) and
  // returns every key and value held for it, [B, heads, length + T, head_dim]. The length
  // moves on with advance(T), once every layer has appended.
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  void advance(int64_t positions);
  // Every key and value held for `layer`, [B, heads, length, head_dim] (views, no copy).
  std::pair<at::Tensor, at::Tensor> held(int64_t layer) const;

 private:
  std::vector<at::Tensor> keys_, values_;
  int64_t batch_, capacity_;
  int64_t length_ = 0;
};

}  // namespace wm::dynamics
