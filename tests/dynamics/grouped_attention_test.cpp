// Grouped key/value heads (dynamics.kv_heads): a model whose query heads share key/value heads
// computes exactly what plain multi-head attention computes with those heads repeated, in the
// full pass and through the KV cache.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "dynamics/cached_attention.h"
#include "dynamics/dynamics_test_support.h"
#include "test_support.h"

namespace wm::dynamics {
namespace {

// Copies the grouped model's weights into a plain one, each key/value head's projection rows
// repeated for every query head of its group.
void copy_with_repeated_heads(WorldModel& grouped, WorldModel& plain) {
  torch::NoGradGuard no_grad;
  const auto& o = grouped->options();
  const int64_t C = o.width, D = C / o.heads, kv = o.key_value_heads(), group = o.heads / kv;
  auto source = grouped->named_parameters();
  for (auto& item : plain->named_parameters()) {
    const torch::Tensor from = source[item.key()];
    if (item.key().find("attention.qkv") == std::string::npos) {
      item.value().copy_(from);
      continue;
    }
    // Rows: q (C), then k and v (kv heads of D each) -> q, k and v of `heads` heads each.
    const torch::Tensor q = from.narrow(0, 0, C), k = from.narrow(0, C, kv * D), v = from.narrow(0, C + kv * D, kv * D);
    auto repeat = [&](const torch::Tensor& part) {
      std::vector<int64_t> shape = {kv, 1, D};
      std::vector<int64_t> expanded = {kv, group, D};
      std::vector<int64_t> flat = {kv * group * D};
      if (part.dim() == 2) {
        shape.push_back(C), expanded.push_back(C), flat.push_back(C);
      }
      return part.reshape(shape).expand(expanded).reshape(flat);
    };
    item.value().copy_(torch::cat({q, repeat(k), repeat(v)}, 0));
  }
}

TEST(GroupedAttention, EqualsPlainAttentionWithTheKeyValueHeadsRepeated) {
  for (int64_t kv_heads : {1, 2})
  for (Decoding decoding : {Decoding::kAutoregressive, Decoding::kParallel}) {
    SCOPED_TRACE("kv_heads " + std::to_string(kv_heads) + (decoding == Decoding::kParallel ? ", parallel" : ", autoregressive"));
    DynamicsOptions o = small_dynamics_options();
    o.decoding = decoding;
    o.kv_heads = kv_heads;
    torch::manual_seed(1);
    WorldModel grouped(o);
    o.kv_heads = 0;
    WorldModel plain(o);
    copy_with_repeated_heads(grouped, plain);
    grouped->eval();
    plain->eval();
    const DynamicsBatch b = shifting_batch(o, 3, 2);
    torch::NoGradGuard no_grad;
    if (decoding == Decoding::kParallel) {
      EXPECT_TRUE(torch::allclose(grouped->forward_parallel(b.tokens, b.actions), plain->forward_parallel(b.tokens, b.actions), 1e-5, 1e-5));
    } else {
      EXPECT_TRUE(torch::allclose(grouped->forward(b.tokens, b.actions), plain->forward(b.tokens, b.actions), 1e-5, 1e-5));
    }
    // The cache holds kv_heads heads, and cached decoding still gives the full pass.
    KVCache cache = grouped->make_cache(3);
    EXPECT_EQ(cache.heads(), kv_heads);
    const torch::Tensor x = grouped->embed_steps(b.tokens, b.actions, 0);
    const torch::Tensor cached = grouped->token_logits(grouped->transform(x, &cache));
    EXPECT_TRUE(torch::allclose(cached, grouped->token_logits(grouped->transform(x)), 1e-4, 1e-4));
  }
}

TEST(GroupedAttention, PackedKernelServesEachQueryHeadItsGroupsKeys) {
  if (!KVCache::packed_layout_available(16)) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  torch::manual_seed(3);
  const int64_t B = 2, H = 4, KV = 2, S = 40, R = 9, D = 16;
  KVCache grouped(1, B, KV, S, D, torch::TensorOptions().dtype(torch::kBFloat16), KVLayout::kPackedBf16);
  KVCache plain(1, B, H, S, D, torch::TensorOptions().dtype(torch::kBFloat16), KVLayout::kPackedBf16);
  const torch::Tensor k = torch::randn({B, KV, S, D}).to(torch::kBFloat16), v = torch::randn({B, KV, S, D}).to(torch::kBFloat16);
  grouped.append(0, k, v);
  plain.append(0, k.repeat_interleave(H / KV, 1), v.repeat_interleave(H / KV, 1));
  const torch::Tensor q = torch::randn({B, H, 12, D}).to(torch::kBFloat16);
  EXPECT_TRUE(torch::equal(cached_attention(q, grouped, 0, S, R), cached_attention(q, plain, 0, S, R)));
}

TEST(GroupedAttention, KvHeadsThatDoNotDivideHeadsAreRefused) {
  DynamicsOptions o = small_dynamics_options();
  o.kv_heads = 3;
  EXPECT_NE(test::error_of([&] { o.validate(); }).find("kv_heads 3 does not divide heads 4"), std::string::npos);
}

}  // namespace
}  // namespace wm::dynamics
