// Attention of a few new queries over a KV cache, for imagination. On the CPU the fused
// scaled_dot_product_attention kernel (flash) is built for long query blocks: with a frame
// of queries in bf16 it ran at ~80 GFLOP/s, one bf16 query 10x slower than two batched matrix
// products (measured on the 2-core AMD EPYC: 4 heads of 32, 430 cached positions, batch 64).
// So, by the cache's layout:
// - packed bf16 (CPU with AVX512-BF16): dynamics/packed_attention_kernel.h, one pass per
//   query row over the keys and values, no score tensor in memory;
// - head-major fp32 on the CPU, and any dtype on CUDA: the fused kernel;
// - head-major bf16 on a CPU without the kernel: two batched matrix products and a softmax.
#pragma once

#include <ATen/core/Tensor.h>

#include "dynamics/kv_cache.h"

namespace wm::dynamics {

// q [B, heads, T, head_dim] against the first `keys` positions of `layer` in the cache. The
// first `causal_rows` queries are the newest positions, in order (row i sits at
// keys - causal_rows + i and sees the keys up to its own); the other rows see every key
// (frame queries). -> [B, heads, T, head_dim] in q's dtype (possibly a transposed view).
at::Tensor cached_attention(const at::Tensor& q, const KVCache& cache, int64_t layer, int64_t keys, int64_t causal_rows);

// The same attention from head-major keys, values [B, heads, S, head_dim] by matrix
// products and a softmax in q's dtype (the fallback, and the tests' reference).
at::Tensor cached_attention_by_products(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values, int64_t causal_rows);

}  // namespace wm::dynamics
