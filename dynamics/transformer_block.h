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

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  // `rotary`, when given, rotates queries and keys by their positions (not owned; shared by
  // the blocks of a model).
  CausalSelfAttentionImpl(int64_t width, int64_t heads, double dropout, const RotaryEmbedding* rotary = nullptr);
  // x [B, T, C] -> [B, T, C]. With a cache, x holds the T positions after the cached ones
  // and attends to those too; the cache gains this layer's keys and values.
  torch::Tensor forward(const torch::Tensor& x, KVCache* cache = nullptr, int64_t layer = 0);

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
  torch::Tensor forward(const torch::Tensor& x, KVCache* cache = nullptr, int64_t layer = 0);  // [B, T, C]

  torch::nn::Linear fc{nullptr}, fc_proj{nullptr};  // MLP 4C; exposed for the init scheme
  CausalSelfAttention attention{nullptr};

 private:
  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace wm::dynamics
