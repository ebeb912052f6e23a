#include "dynamics/kv_cache.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/host_memory.h"
#include "dynamics/dream_precision.h"
#include "dynamics/packed_attention_kernel.h"

namespace wm::dynamics {

namespace {

// Scatters k, v [B, heads, T, head_dim] (bf16) into the packed blocks at positions
// first..first + T - 1.
void pack_into(const at::Tensor& k, const at::Tensor& v, int64_t first, at::Tensor& keys, at::Tensor& values) {
  const at::Tensor kc = k.contiguous(), vc = v.contiguous();
  const int64_t B = k.size(0), H = k.size(1), T = k.size(2), D = k.size(3);
  const auto* k_in = reinterpret_cast<const uint16_t*>(kc.data_ptr<at::BFloat16>());
  const auto* v_in = reinterpret_cast<const uint16_t*>(vc.data_ptr<at::BFloat16>());
  auto* k_out = reinterpret_cast<uint16_t*>(keys.data_ptr<at::BFloat16>());
  auto* v_out = reinterpret_cast<uint16_t*>(values.data_ptr<at::BFloat16>());
  const int64_t key_stride = keys.size(2), value_stride = values.size(2);
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t head = begin; head < end; ++head) {
      const uint16_t* k_rows = k_in + head * T * D;
      const uint16_t* v_rows = v_in + head * T * D;
      uint16_t* k_packed = k_out + head * key_stride;
      uint16_t* v_packed = v_out + head * value_stride;
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t c = 0; c < D; ++c) {
          k_packed[packed::key_offset(first + t, c, D)] = k_rows[t * D + c];
          v_packed[packed::value_offset(first + t, c, D)] = v_rows[t * D + c];
        }
      }
    }
  });
}

}  // namespace

bool KVCache::packed_layout_available(int64_t head_dim) {
  const bool whole_vectors = head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128 || head_dim == 256;
  return whole_vectors && packed::packed_attention_built() && core::cpu_has_avx512_bf16();
}

KVCache::KVCache(int64_t layers, int64_t batch, int64_t heads, int64_t capacity, int64_t head_dim, const at::TensorOptions& options,
                 KVLayout layout)
    : batch_(batch), heads_(heads), capacity_(capacity), head_dim_(head_dim), layout_(layout) {
  if (layout_ == KVLayout::kPackedBf16 && (!options.device().is_cpu() || !packed_layout_available(head_dim))) {
    throw core::Error("KV cache: the packed bf16 layout needs a CPU with AVX512-BF16 and heads of 16, 32, 64, 128 or 256 channels (got " +
                      std::to_string(head_dim) + ")");
  }
  // Packed: whole blocks of 16 keys (a block is read in full, its unused lanes masked).
  const int64_t padded = (capacity + packed::kKeyBlock - 1) / packed::kKeyBlock * packed::kKeyBlock;
  if (options.device().is_cpu()) {
    const double element = layout_ == KVLayout::kPackedBf16 ? 2.0 : static_cast<double>(c10::elementSize(c10::typeMetaToScalarType(options.dtype())));
    const double bytes = 2.0 * static_cast<double>(layers * batch * heads * padded * head_dim) * element;  // keys and values
    core::check_fits_in_memory(bytes,
                               "a dream's KV cache (" + std::to_string(layers) + " layers x " + std::to_string(batch) + " dreams x " +
                                   std::to_string(capacity) + " positions x " + std::to_string(heads) + " heads of " + std::to_string(head_dim) + ")",
                               "keys and values", "dream fewer at once (a smaller batch) or with a shorter dynamics.context_steps");
  }
  for (int64_t l = 0; l < layers; ++l) {
    if (layout_ == KVLayout::kPackedBf16) {
      keys_.push_back(torch::zeros({batch, heads, padded * head_dim}, options.dtype(torch::kBFloat16)));
      values_.push_back(torch::zeros({batch, heads, padded * head_dim}, options.dtype(torch::kBFloat16)));
    } else {
      keys_.push_back(torch::zeros({batch, heads, capacity, head_dim}, options));
      values_.push_back(torch::zeros({batch, heads, capacity, head_dim}, options));
    }
  }
}

void KVCache::append(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  if (k.dim() != 4 || k.size(0) != batch_ || k.size(1) != heads_ || k.size(3) != head_dim_ || !v.sizes().equals(k.sizes())) {
    throw core::Error("KV cache: keys " + c10::str(k.sizes()) + " and values " + c10::str(v.sizes()) + " do not fit a cache of [" +
                      std::to_string(batch_) + ", " + std::to_string(heads_) + ", T, " + std::to_string(head_dim_) + "]");
  }
  const int64_t count = k.size(2);
  if (length_ + count > capacity_) {
    throw core::Error("KV cache: " + std::to_string(length_ + count) + " positions exceed its capacity of " + std::to_string(capacity_));
  }
  if (layout_ == KVLayout::kPackedBf16) {
    pack_into(k.to(torch::kBFloat16), v.to(torch::kBFloat16), length_, keys_[layer], values_[layer]);
  } else {
    keys_[layer].narrow(2, length_, count).copy_(k);
    values_[layer].narrow(2, length_, count).copy_(v);
  }
}

std::pair<at::Tensor, at::Tensor> KVCache::view(int64_t layer, int64_t positions) const {
  if (layout_ != KVLayout::kHeadMajor) throw core::Error("KV cache: a packed cache has no head-major view");
  return {keys_[layer].narrow(2, 0, positions), values_[layer].narrow(2, 0, positions)};
}

void KVCache::advance(int64_t positions) { length_ += positions; }

}  // namespace wm::dynamics
