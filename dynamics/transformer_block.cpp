#include "dynamics/transformer_block.h"

#include <torch/torch.h>

#include "dynamics/attention_heads.h"
#include "dynamics/cached_attention.h"

namespace wm::dynamics {

CausalSelfAttentionImpl::CausalSelfAttentionImpl(int64_t width, int64_t heads, int64_t kv_heads, double dropout,
                                                 double attention_dropout, const RotaryEmbedding* rotary)
    : qkv(register_module("qkv", torch::nn::Linear(width, width + 2 * kv_heads * (width / heads)))),
      proj(register_module("proj", torch::nn::Linear(width, width))),
      heads_(heads),
      kv_heads_(kv_heads),
      attention_dropout_(attention_dropout),
      rotary_(rotary),
      residual_dropout_(register_module("residual_dropout", torch::nn::Dropout(dropout))) {}

torch::Tensor CausalSelfAttentionImpl::project_out(const torch::Tensor& y) {
  const int64_t batch = y.size(0), count = y.size(2);
  return residual_dropout_(proj(y.transpose(1, 2).reshape({batch, count, -1})));
}

torch::Tensor CausalSelfAttentionImpl::project_queries(const torch::Tensor& x, const torch::Tensor& positions) {
  const int64_t batch = x.size(0), count = x.size(1), width = x.size(2);
  torch::Tensor q = torch::linear(x, qkv->weight.narrow(0, 0, width), qkv->bias.narrow(0, 0, width))
                        .view({batch, count, heads_, width / heads_})
                        .transpose(1, 2);  // [B, heads, N, head_dim]
  return rotary_ != nullptr ? rotary_->rotate_at(q, positions) : q;
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, KeysValues* made) {
  // [B, T, 3C] -> q, k, v [B, heads, T, head_dim]; q and k rotated when rotary.
  const auto [q, k, v] = attention_heads(qkv(x), heads_, kv_heads_, rotary_, /*first=*/0);
  if (made != nullptr) *made = {k, v};
  const double dropout = is_training() ? attention_dropout_ : 0.0;
  return project_out(at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, dropout, /*is_causal=*/true, /*scale=*/std::nullopt,
                                                      /*enable_gqa=*/kv_heads_ != heads_));
}

torch::Tensor CausalSelfAttentionImpl::attend(const torch::Tensor& x, const torch::Tensor& positions, const KeysValues& context,
                                              const std::vector<int64_t>& visible_keys) {
  const double dropout = is_training() ? attention_dropout_ : 0.0;
  const torch::Tensor q = project_queries(x, positions);  // [B, heads, N, head_dim]
  const int64_t groups = static_cast<int64_t>(visible_keys.size()), rows = q.size(2) / groups;
  std::vector<torch::Tensor> parts;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t keys = visible_keys[g];
    parts.push_back(at::scaled_dot_product_attention(q.narrow(2, g * rows, rows), context.keys.narrow(2, 0, keys),
                                                     context.values.narrow(2, 0, keys), /*attn_mask=*/{}, dropout, /*is_causal=*/false,
                                                     /*scale=*/std::nullopt, /*enable_gqa=*/kv_heads_ != heads_));
  }
  return project_out(groups == 1 ? parts.front() : torch::cat(parts, 2));
}

torch::Tensor CausalSelfAttentionImpl::forward_cached(const torch::Tensor& x, const CachedRows& rows, KVCache& cache, int64_t layer) {
  const int64_t R = rows.real_rows, Q = x.size(1) - R, output_from = rows.output_from;
  std::vector<torch::Tensor> queries;  // [B, heads, *, head_dim] of the rows that give output
  const int64_t first = cache.length();
  if (R > 0) {
    // The cache keeps rotated keys: a key's angle is fixed by its position.
    const auto [q, k, v] = attention_heads(qkv(x.narrow(1, 0, R)), heads_, kv_heads_, rotary_, first);
    cache.append(layer, k, v);
    if (output_from < R) queries.push_back(q.narrow(2, output_from, R - output_from));
  }
  if (Q > 0) queries.push_back(project_queries(x.narrow(1, R, Q), rows.query_positions));
  if (queries.empty()) return x.new_empty({x.size(0), 0, x.size(2)});
  const torch::Tensor q = queries.size() == 1 ? queries.front() : torch::cat(queries, 2);
  return project_out(cached_attention(q, cache, layer, /*keys=*/first + R, /*causal_rows=*/std::max<int64_t>(0, R - output_from)));
}

TransformerBlockImpl::TransformerBlockImpl(int64_t width, int64_t heads, int64_t kv_heads, double dropout, double attention_dropout,
                                           const RotaryEmbedding* rotary)
    : fc(register_module("fc", torch::nn::Linear(width, 4 * width))),
      fc_proj(register_module("fc_proj", torch::nn::Linear(4 * width, width))),
      attention(register_module("attention", CausalSelfAttention(width, heads, kv_heads, dropout, attention_dropout, rotary))),
      ln1_(register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      ln2_(register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
      dropout_(register_module("dropout", torch::nn::Dropout(dropout))) {}

torch::Tensor TransformerBlockImpl::mlp(const torch::Tensor& h) { return dropout_(fc_proj(torch::gelu(fc(ln2_(h))))); }

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, KeysValues* made) {
  const torch::Tensor h = x + attention->forward(ln1_(x), made);
  return h + mlp(h);
}

torch::Tensor TransformerBlockImpl::forward_queries(const torch::Tensor& x, const torch::Tensor& positions, const KeysValues& context,
                                                    const std::vector<int64_t>& visible_keys) {
  const torch::Tensor h = x + attention->attend(ln1_(x), positions, context, visible_keys);
  return h + mlp(h);
}

torch::Tensor TransformerBlockImpl::forward_cached(const torch::Tensor& x, const CachedRows& rows, KVCache& cache, int64_t layer) {
  const torch::Tensor attended = attention->forward_cached(ln1_(x), rows, cache, layer);
  if (attended.size(1) == 0) return attended;
  const torch::Tensor h = x.narrow(1, rows.output_from, x.size(1) - rows.output_from) + attended;
  return h + mlp(h);
}

}  // namespace wm::dynamics
