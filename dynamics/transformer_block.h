// A pre-LayerNorm GPT block: x + attention(LN(x)), then x + MLP(LN(x)) with GELU. Causal
// self-attention runs through at::scaled_dot_product_attention (flash / memory-efficient
// kernels on GPU), over the full sequence in training or with a KV cache in imagination.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "dynamics/kv_cache.h"
#include "dynamics/rotary_embedding.h"

namespace wm::dynamics {

// The keys and values one attention layer computed or holds: [B, kv_heads, S, head_dim].
struct KeysValues {
  torch::Tensor keys, values;
};

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  // `rotary`, when given, rotates queries and keys by their positions (not owned; shared by
  // the blocks of a model).
  CausalSelfAttentionImpl(int64_t width, int64_t heads, double dropout, const RotaryEmbedding* rotary = nullptr);
  // x [B, T, C] -> [B, T, C]. With a cache, x holds the T positions after the cached ones
  // and attends to those too; the cache gains this layer's keys and values. `made`, when
  // given, receives the keys and values of x's positions (for queries that read them).
  torch::Tensor forward(const torch::Tensor& x, KVCache* cache = nullptr, int64_t layer = 0, KeysValues* made = nullptr);
  // Queries that read keys and values made elsewhere and add none of their own (parallel
  // decoding: nothing attends to a frame query). x [B, N, C] at `positions` (int64 [N], for
  // rotary); `visible` bool [N, S] says which of the S keys each query sees (undefined: all)
  // -> [B, N, C].
  torch::Tensor attend(const torch::Tensor& x, const torch::Tensor& positions, const KeysValues& context, const torch::Tensor& visible);

  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t heads_;
  double dropout_;
  const RotaryEmbedding* rotary_;
  torch::nn::Dropout residual_dropout_{nullptr};
};
TORCH_MODULE(CausalSelfAttention);

class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(int64_t width, int64_t heads, double dropout, const RotaryEmbedding* rotary = nullptr);
  torch::Tensor forward(const torch::Tensor& x, KVCache* cache = nullptr, int64_t layer = 0, KeysValues* made = nullptr);  // [B, T, C]
  // Frame queries through the block: attention over `context` only (see attend), then the MLP.
  torch::Tensor forward_queries(const torch::Tensor& x, const torch::Tensor& positions, const KeysValues& context,
                                const torch::Tensor& visible);

  torch::nn::Linear fc{nullptr}, fc_proj{nullptr};  // MLP 4C; exposed for the init scheme
  CausalSelfAttention attention{nullptr};

 private:
  torch::Tensor mlp(const torch::Tensor& h);  // h + this = the block's output

  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace wm::dynamics
