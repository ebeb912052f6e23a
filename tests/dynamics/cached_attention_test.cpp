// Attention over the KV cache: the packed bf16 kernel and the matrix-product fallback give
// what plain attention gives, for single queries, frames of queries and causal new rows.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dynamics/cached_attention.h"
#include "dynamics/kv_cache.h"

namespace wm::dynamics {
namespace {

// Plain attention in float64: row i < R sees keys up to S - R + i, the others all.
torch::Tensor attention_in_double(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t R) {
  const int64_t T = q.size(2), S = k.size(2);
  torch::Tensor scores = torch::matmul(q.to(torch::kFloat64), k.to(torch::kFloat64).transpose(-2, -1)) / std::sqrt(double(q.size(3)));
  for (int64_t i = 0; i < std::min(R, T); ++i) {
    if (S - R + i + 1 < S) scores.select(2, i).narrow(-1, S - R + i + 1, R - i - 1).fill_(-INFINITY);
  }
  return torch::matmul(torch::softmax(scores, -1), v.to(torch::kFloat64));
}

struct Case {
  int64_t held, rows, causal_rows, head_dim;
};

TEST(CachedAttention, PackedBf16KernelMatchesPlainAttention) {
  if (!KVCache::packed_layout_available(32)) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  // Held positions before the call (not multiples of 16 or 2, and 0), new rows appended
  // (causal) and frame queries (the rest of the rows).
  for (const Case c : {Case{37, 1, 1, 32}, Case{0, 65, 65, 32}, Case{100, 65, 65, 32}, Case{129, 64, 0, 32}, Case{64, 129, 65, 64},
                       Case{5, 3, 2, 16}}) {
    SCOPED_TRACE("held " + std::to_string(c.held) + ", rows " + std::to_string(c.rows) + ", causal " + std::to_string(c.causal_rows) +
                 ", head_dim " + std::to_string(c.head_dim));
    torch::manual_seed(c.held + c.rows);
    const int64_t B = 3, H = 2, S = c.held + c.causal_rows;
    KVCache cache(/*layers=*/1, B, H, /*capacity=*/S + 7, c.head_dim, torch::TensorOptions().dtype(torch::kBFloat16), KVLayout::kPackedBf16);
    const torch::Tensor k = torch::randn({B, H, S, c.head_dim}).to(torch::kBFloat16), v = torch::randn({B, H, S, c.head_dim}).to(torch::kBFloat16);
    // Appended in two calls, as imagination does: what was held, then this pass's rows.
    if (c.held > 0) {
      cache.append(0, k.narrow(2, 0, c.held), v.narrow(2, 0, c.held));
      cache.advance(c.held);
    }
    cache.append(0, k.narrow(2, c.held, c.causal_rows), v.narrow(2, c.held, c.causal_rows));
    const torch::Tensor q = torch::randn({B, H, c.rows, c.head_dim}).to(torch::kBFloat16);
    const torch::Tensor got = cached_attention(q, cache, 0, S, c.causal_rows).to(torch::kFloat64);
    const torch::Tensor want = attention_in_double(q, k, v, c.causal_rows);
    // bf16 probabilities and outputs: ~3 significant digits.
    EXPECT_LT((got - want).abs().max().item<double>(), 2e-2);
    EXPECT_LT((got - want).abs().mean().item<double>(), 3e-3);
  }
}

TEST(CachedAttention, MatrixProductFallbackMatchesPlainAttention) {
  torch::manual_seed(2);
  const int64_t B = 2, H = 3, S = 50, R = 7, T = 12, D = 8;
  const torch::Tensor q = torch::randn({B, H, T, D}), k = torch::randn({B, H, S, D}), v = torch::randn({B, H, S, D});
  const torch::Tensor got = cached_attention_by_products(q, k, v, R).to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(got, attention_in_double(q, k, v, R), 1e-5, 1e-5));
}

TEST(CachedAttention, PackedLayoutIsRefusedWhereItCannotRun) {
  // Heads of 8 channels are not a whole vector of 16 lanes: never packed, on any CPU.
  EXPECT_FALSE(KVCache::packed_layout_available(8));
  EXPECT_THROW(KVCache(1, 1, 1, 16, 8, torch::TensorOptions().dtype(torch::kBFloat16), KVLayout::kPackedBf16), std::exception);
}

}  // namespace
}  // namespace wm::dynamics
