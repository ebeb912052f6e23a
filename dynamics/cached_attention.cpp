#include "dynamics/cached_attention.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "dynamics/packed_attention_kernel.h"

namespace wm::dynamics {

namespace {

// [rows, rows]: 0 on and below the diagonal, -inf above (key j later than query i).
at::Tensor causal_bias(int64_t rows, const at::TensorOptions& options) {
  return torch::zeros({rows, rows}, options).masked_fill_(torch::ones({rows, rows}, options.dtype(torch::kBool)).triu(1),
                                                          -std::numeric_limits<float>::infinity());
}

// bool [T, S]: row i < R sees keys up to S - R + i, the other rows every key.
at::Tensor visible_keys(int64_t T, int64_t S, int64_t R, const c10::Device& device) {
  const auto positions = torch::TensorOptions().dtype(torch::kInt64).device(device);
  const at::Tensor last_visible = torch::cat({torch::arange(S - R, S, positions), torch::full({T - R}, S - 1, positions)});
  return torch::arange(S, positions).unsqueeze(0) <= last_visible.unsqueeze(1);
}

at::Tensor packed_attention(const at::Tensor& q, const KVCache& cache, int64_t layer, int64_t keys, int64_t causal_rows) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const at::Tensor queries = q.to(torch::kBFloat16).contiguous();
  // Written as [B, T, heads, head_dim]: the output projection then reads it without a copy.
  at::Tensor out = torch::empty({B, T, H, D}, q.options().dtype(torch::kBFloat16));
  const auto* q_data = reinterpret_cast<const uint16_t*>(queries.data_ptr<at::BFloat16>());
  const auto* k_data = reinterpret_cast<const uint16_t*>(cache.packed_keys(layer).data_ptr<at::BFloat16>());
  const auto* v_data = reinterpret_cast<const uint16_t*>(cache.packed_values(layer).data_ptr<at::BFloat16>());
  auto* out_data = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  const int64_t per_head = cache.packed_keys(layer).size(2);
  const int64_t group = H / cache.heads();  // query heads per key/value head
  const int64_t padded = (keys + packed::kKeyBlock - 1) / packed::kKeyBlock * packed::kKeyBlock;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(packed::kScoreRows * padded);
    std::vector<uint16_t> probs(padded);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      packed::HeadAttention a;
      a.q = q_data + bh * T * D;
      a.q_stride = D;
      const int64_t kv_head = b * cache.heads() + h / group;
      a.keys = k_data + kv_head * per_head;
      a.values = v_data + kv_head * per_head;
      a.out = out_data + (b * T * H + h) * D;
      a.out_stride = H * D;
      a.rows = T;
      a.keys_count = keys;
      a.head_dim = D;
      a.causal_rows = causal_rows;
      a.scale = scale;
      a.scores = scores.data();
      a.scores_stride = padded;
      a.probs = probs.data();
      packed::attend_packed_head(a);
    }
  });
  return out.transpose(1, 2).to(q.scalar_type());  // [B, heads, T, head_dim]
}

}  // namespace

at::Tensor cached_attention_by_products(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values, int64_t causal_rows) {
  const int64_t S = keys.size(2), R = causal_rows;
  // Scale the few queries rather than the many scores.
  const at::Tensor scores = at::matmul(q * (1.0 / std::sqrt(static_cast<double>(q.size(3)))), keys.transpose(-2, -1));  // [B, heads, T, S]
  // A bias added to the [R, R] corner is a vectorised add; masked_fill on that strided view
  // runs element by element (4x slower at [64, 4, 65, 65]).
  if (R > 1) scores.narrow(-2, 0, R).narrow(-1, S - R, R).add_(causal_bias(R, scores.options()));
  return at::matmul(torch::softmax(scores, -1), values);  // [B, heads, T, head_dim]
}

at::Tensor cached_attention(const at::Tensor& q, const KVCache& cache, int64_t layer, int64_t keys, int64_t causal_rows) {
  if (q.dim() != 4 || q.size(0) != cache.batch() || q.size(1) % cache.heads() != 0 || q.size(3) != cache.head_dim() || keys > cache.capacity() ||
      causal_rows > std::min(keys, q.size(2))) {
    throw core::Error("cached attention: queries " + c10::str(q.sizes()) + " over " + std::to_string(keys) + " keys (" +
                      std::to_string(causal_rows) + " of them new) do not fit a cache of " + std::to_string(cache.batch()) + " x " +
                      std::to_string(cache.heads()) + " heads of " + std::to_string(cache.head_dim()) + ", capacity " +
                      std::to_string(cache.capacity()));
  }
  if (cache.layout() == KVLayout::kPackedBf16) return packed_attention(q, cache, layer, keys, causal_rows);
  const auto [k, v] = cache.view(layer, keys);
  const bool grouped = cache.heads() != q.size(1);
  if (q.is_cuda() || q.scalar_type() != torch::kBFloat16) {
    const std::optional<at::Tensor> mask =
        causal_rows <= 1 ? std::nullopt : std::optional<at::Tensor>(visible_keys(q.size(2), keys, causal_rows, q.device()));
    return at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0, /*is_causal=*/false, /*scale=*/std::nullopt,
                                            /*enable_gqa=*/grouped);
  }
  if (!grouped) return cached_attention_by_products(q, k, v, causal_rows);
  const int64_t group = q.size(1) / cache.heads();
  return cached_attention_by_products(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1), causal_rows);
}

}  // namespace wm::dynamics
