#include "dynamics/kv_cache.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::dynamics {

KVCache::KVCache(int64_t layers, int64_t batch, int64_t heads, int64_t capacity, int64_t head_dim, const at::TensorOptions& options)
    : batch_(batch), capacity_(capacity) {
  for (int64_t l = 0; l < layers; ++l) {
    keys_.push_back(torch::zeros({batch, heads, capacity, head_dim}, options));
    values_.push_back(torch::zeros({batch, heads, capacity, head_dim}, options));
  }
}

std::pair<at::Tensor, at::Tensor> KVCache::append(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  const int64_t count = k.size(2);
  if (length_ + count > capacity_) {
    throw core::Error("KV cache: " + std::to_string(length_ + count) + " positions exceed its capacity of " + std::to_string(capacity_));
  }
  keys_[layer].narrow(2, length_, count).copy_(k);
  values_[layer].narrow(2, length_, count).copy_(v);
  return {keys_[layer].narrow(2, 0, length_ + count), values_[layer].narrow(2, 0, length_ + count)};
}

std::pair<at::Tensor, at::Tensor> KVCache::held(int64_t layer) const {
  return {keys_[layer].narrow(2, 0, length_), values_[layer].narrow(2, 0, length_)};
}

void KVCache::advance(int64_t positions) { length_ += positions; }

}  // namespace wm::dynamics
