// A pre-LayerNorm GPT block: x + attention(LN(x)), then x + MLP(LN(x)) with GELU. Two ways
// through it:
// - the full sequence (training, evaluation): causal self-attention through
//   at::scaled_dot_product_attention (flash / memory-efficient kernels), plus, for parallel
//   decoding, frame queries that read the sequence's keys and values under a mask;
// - the cached path (imagination): new positions appended to a KV cache, optionally followed
//   by frame queries that read everything the cache then holds, in one pass per layer.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "dynamics/kv_cache.h"
#include "dynamics/rotary_embedding.h"

namespace wm::dynamics {

// The keys and values one attention layer computed or holds: [B, kv_heads, S, head_dim].
struct KeysValues {
  torch::Tensor keys, values;
};

// What one cached pass feeds a layer: x [B, R + Q, C] holds R new positions that enter the
// cache (each attends to what the cache holds and to the new positions up to its own), then
// Q frame queries at `query_positions` (int64 [Q], for rotary) that read every key the cache
// holds after the R are added, and add none of their own. Rows before `output_from` only
// give keys and values (nothing reads their output: the last layer of a pass that only fills
// the cache, or whose frame rows feed nothing); the layer returns rows [output_from, R + Q).
struct CachedRows {
  int64_t real_rows = 0;
  torch::Tensor query_positions;  // undefined when Q = 0
  int64_t output_from = 0;
};

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  // `rotary`, when given, rotates queries and keys by their positions (not owned; shared by
  // the blocks of a model).
  // kv_heads divides heads (grouped-query attention; = heads: plain multi-head).
  // `dropout` on the output projection, `attention_dropout` on the attention probabilities.
  CausalSelfAttentionImpl(int64_t width, int64_t heads, int64_t kv_heads, double dropout, double attention_dropout,
                          const RotaryEmbedding* rotary = nullptr);
  // Full sequence: x [B, T, C] -> [B, T, C], causal. `made`, when given, receives the keys and
  // values of x's positions (for frame queries that read them).
  torch::Tensor forward(const torch::Tensor& x, KeysValues* made = nullptr);
  // Frame queries over keys and values made elsewhere: x [B, N, C] at `positions`, in groups
  // of rows (a frame's queries); group g's rows see the first visible_keys[g] keys, all of
  // them -> [B, N, C]. One unmasked attention call per group: a mask [N, S] would send the
  // CPU to the composite kernel, which keeps [B, heads, N, S] probabilities for backward.
  torch::Tensor attend(const torch::Tensor& x, const torch::Tensor& positions, const KeysValues& context,
                       const std::vector<int64_t>& visible_keys);
  // Cached pass (see CachedRows); x normalised -> [B, R + Q - output_from, C].
  torch::Tensor forward_cached(const torch::Tensor& x, const CachedRows& rows, KVCache& cache, int64_t layer);

  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  // x [B, N, C] -> rotated queries [B, heads, N, head_dim], from the query third of qkv only.
  torch::Tensor project_queries(const torch::Tensor& x, const torch::Tensor& positions);
  torch::Tensor project_out(const torch::Tensor& y);  // [B, heads, T, head_dim] -> [B, T, C]

  int64_t heads_, kv_heads_;
  double attention_dropout_;
  const RotaryEmbedding* rotary_;
  torch::nn::Dropout residual_dropout_{nullptr};
};
TORCH_MODULE(CausalSelfAttention);

class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(int64_t width, int64_t heads, int64_t kv_heads, double dropout, double attention_dropout,
                       const RotaryEmbedding* rotary = nullptr);
  torch::Tensor forward(const torch::Tensor& x, KeysValues* made = nullptr);  // [B, T, C]
  // Frame queries through the block: attention over `context` only (see attend), then the MLP.
  torch::Tensor forward_queries(const torch::Tensor& x, const torch::Tensor& positions, const KeysValues& context,
                                const std::vector<int64_t>& visible_keys);
  // Cached pass: x [B, R + Q, C] -> rows [output_from, R + Q).
  torch::Tensor forward_cached(const torch::Tensor& x, const CachedRows& rows, KVCache& cache, int64_t layer);

  torch::nn::Linear fc{nullptr}, fc_proj{nullptr};  // MLP 4C; exposed for the init scheme
  CausalSelfAttention attention{nullptr};

 private:
  torch::Tensor mlp(const torch::Tensor& h);  // h + this = the block's output

  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace wm::dynamics
