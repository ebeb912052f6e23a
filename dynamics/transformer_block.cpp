#include "dynamics/transformer_block.h"

#include <torch/torch.h>

#include "dynamics/attention_heads.h"

namespace wm::dynamics {

CausalSelfAttentionImpl::CausalSelfAttentionImpl(int64_t width, int64_t heads, double dropout, const RotaryEmbedding* rotary)
    : qkv(register_module("qkv", torch::nn::Linear(width, 3 * width))),
      proj(register_module("proj", torch::nn::Linear(width, width))),
      heads_(heads),
      dropout_(dropout),
      rotary_(rotary),
      residual_dropout_(register_module("residual_dropout", torch::nn::Dropout(dropout))) {}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, KVCache* cache, int64_t layer, KeysValues* made) {
  const int64_t batch = x.size(0), count = x.size(1), width = x.size(2);
  const int64_t first = cache != nullptr ? cache->length() : 0;  // position of x's first row
  // [B, T, 3C] -> q, k, v [B, heads, T, head_dim]; q and k rotated when rotary (the cache
  // keeps rotated keys: a key's angle is fixed by its position).
  const auto [q, k, v] = attention_heads(qkv(x), heads_, rotary_, first);
  if (made != nullptr) *made = {k, v};
  const double dropout = is_training() ? dropout_ : 0.0;
  torch::Tensor y;
  if (cache == nullptr) {
    y = at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, dropout, /*is_causal=*/true);
  } else {
    const int64_t offset = first;
    const auto [keys, values] = cache->append(layer, k, v);  // [B, heads, offset + T, head_dim]
    if (count == 1) {
      y = at::scaled_dot_product_attention(q, keys, values);  // the newest position sees everything
    } else if (offset == 0) {
      y = at::scaled_dot_product_attention(q, keys, values, /*attn_mask=*/{}, 0.0, /*is_causal=*/true);
    } else {
      // Query i sits at offset + i and sees keys 0..offset + i (is_causal would align the
      // mask to the top-left corner instead).
      const auto query_pos = torch::arange(offset, offset + count, torch::TensorOptions().device(x.device())).unsqueeze(1);
      const auto key_pos = torch::arange(offset + count, torch::TensorOptions().device(x.device())).unsqueeze(0);
      y = at::scaled_dot_product_attention(q, keys, values, /*attn_mask=*/key_pos <= query_pos);
    }
  }
  return residual_dropout_(proj(y.transpose(1, 2).reshape({batch, count, width})));
}

torch::Tensor CausalSelfAttentionImpl::attend(const torch::Tensor& x, const torch::Tensor& positions, const KeysValues& context,
                                              const torch::Tensor& visible) {
  const int64_t batch = x.size(0), count = x.size(1), width = x.size(2), head_dim = width / heads_;
  // Only the query third of the projection: these positions give no keys or values.
  torch::Tensor q = torch::linear(x, qkv->weight.narrow(0, 0, width), qkv->bias.narrow(0, 0, width))
                        .view({batch, count, heads_, head_dim})
                        .transpose(1, 2);  // [B, heads, N, head_dim]
  if (rotary_ != nullptr) q = rotary_->rotate_at(q, positions);
  const double dropout = is_training() ? dropout_ : 0.0;
  const std::optional<torch::Tensor> mask = visible.defined() ? std::optional<torch::Tensor>(visible) : std::nullopt;
  const torch::Tensor y = at::scaled_dot_product_attention(q, context.keys, context.values, mask, dropout);
  return residual_dropout_(proj(y.transpose(1, 2).reshape({batch, count, width})));
}

TransformerBlockImpl::TransformerBlockImpl(int64_t width, int64_t heads, double dropout, const RotaryEmbedding* rotary)
    : fc(register_module("fc", torch::nn::Linear(width, 4 * width))),
      fc_proj(register_module("fc_proj", torch::nn::Linear(4 * width, width))),
      attention(register_module("attention", CausalSelfAttention(width, heads, dropout, rotary))),
      ln1_(register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      ln2_(register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      dropout_(register_module("dropout", torch::nn::Dropout(dropout))) {}

torch::Tensor TransformerBlockImpl::mlp(const torch::Tensor& h) { return dropout_(fc_proj(torch::gelu(fc(ln2_(h))))); }

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, KVCache* cache, int64_t layer, KeysValues* made) {
  const torch::Tensor h = x + attention->forward(ln1_(x), cache, layer, made);
  return h + mlp(h);
}

torch::Tensor TransformerBlockImpl::forward_queries(const torch::Tensor& x, const torch::Tensor& positions, const KeysValues& context,
                                                    const torch::Tensor& visible) {
  const torch::Tensor h = x + attention->attend(ln1_(x), positions, context, visible);
  return h + mlp(h);
}

}  // namespace wm::dynamics
