#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "dynamics/attention_heads.h"

namespace wm::dynamics {
namespace {

constexpr int64_t kBatch = 2, kSteps = 7, kHeads = 3, kHeadDim = 6;

// The fused kernel against the ATen composite: the three outputs, and the projection's
// gradient for random upstream gradients on any subset of them.
void expect_matches_composite(torch::ScalarType dtype, const RotaryEmbedding* rotary, int64_t first, std::array<bool, 3> used,
                              double tolerance, int64_t kv_heads = kHeads) {
  torch::manual_seed(3);
  const auto options = torch::TensorOptions().dtype(dtype);
  const torch::Tensor qkv = torch::randn({kBatch, kSteps, (kHeads + 2 * kv_heads) * kHeadDim}, options);
  std::array<torch::Tensor, 3> upstream;
  for (size_t i = 0; i < 3; ++i) upstream[i] = torch::randn({kBatch, i == 0 ? kHeads : kv_heads, kSteps, kHeadDim}, options);

  auto run = [&](bool fused) {
    const torch::Tensor input = qkv.clone().requires_grad_(true);
    const auto parts = fused ? attention_heads(input, kHeads, kv_heads, rotary, first)
                             : attention_heads_reference(input, kHeads, kv_heads, rotary, first);
    torch::Tensor loss = torch::zeros({}, options);
    for (size_t i = 0; i < 3; ++i) {
      if (used[i]) loss = loss + (parts[i] * upstream[i]).sum();
    }
    loss.backward();
    return std::make_pair(parts, input.grad());
  };
  ASSERT_TRUE(attention_heads_is_fused(qkv));
  const auto [fused, fused_grad] = run(true);
  const auto [composite, composite_grad] = run(false);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE("output " + std::to_string(i));
    ASSERT_EQ(fused[i].sizes(), composite[i].sizes());
    EXPECT_TRUE(fused[i].is_contiguous());
    EXPECT_TRUE(torch::allclose(fused[i], composite[i], tolerance, tolerance));
  }
  EXPECT_TRUE(torch::allclose(fused_grad, composite_grad, tolerance, tolerance)) << (fused_grad - composite_grad).abs().max();
}

TEST(AttentionHeads, FusedKernelEqualsCompositeValuesAndGradientsInDouble) {
  const RotaryEmbedding rotary(kHeadDim, 32);
  for (int64_t first : {0, 5}) {
    SCOPED_TRACE("first position " + std::to_string(first));
    expect_matches_composite(torch::kFloat64, &rotary, first, {true, true, true}, 1e-12);
  }
}

TEST(AttentionHeads, FusedKernelEqualsCompositeInFloatWithoutRotationAndWithUnusedOutputs) {
  const RotaryEmbedding rotary(kHeadDim, 32);
  expect_matches_composite(torch::kFloat32, &rotary, 2, {true, true, true}, 1e-5);
  expect_matches_composite(torch::kFloat32, nullptr, 0, {true, true, true}, 0.0);  // a pure split is exact
  expect_matches_composite(torch::kFloat32, &rotary, 1, {true, false, false}, 1e-5);
  expect_matches_composite(torch::kFloat32, &rotary, 1, {false, true, true}, 1e-5);
}

// Grouped key/value heads: fewer k and v heads than q heads in the projection (3 query heads
// sharing 1 key/value head here); values and gradients still those of the composite.
TEST(AttentionHeads, FusedKernelEqualsCompositeWithGroupedKeyValueHeads) {
  const RotaryEmbedding rotary(kHeadDim, 32);
  expect_matches_composite(torch::kFloat64, &rotary, 4, {true, true, true}, 1e-12, /*kv_heads=*/1);
  expect_matches_composite(torch::kFloat32, &rotary, 0, {false, true, false}, 1e-5, /*kv_heads=*/1);
}

// bf16 (imagination in bf16): rotated in fp32 and rounded once, so each output is the
// float64 rotation of the same inputs rounded to bf16 — within half a bf16 step (2^-8
// relative); the gradient likewise.
TEST(AttentionHeads, FusedKernelInBf16IsTheExactRotationRoundedOnce) {
  const RotaryEmbedding rotary(kHeadDim, 32);
  torch::manual_seed(4);
  const torch::Tensor qkv = torch::randn({kBatch, kSteps, 3 * kHeads * kHeadDim}).to(torch::kBFloat16);
  ASSERT_TRUE(attention_heads_is_fused(qkv));
  const torch::Tensor input = qkv.clone().requires_grad_(true);
  const auto fused = attention_heads(input, kHeads, &rotary, 3);
  const torch::Tensor exact_input = qkv.to(torch::kFloat64).requires_grad_(true);
  const auto exact = attention_heads_reference(exact_input, kHeads, &rotary, 3);
  for (size_t i = 0; i < 3; ++i) {
    const torch::Tensor error = (fused[i].to(torch::kFloat64) - exact[i]).abs();
    // (+1e-6: where the fp32 products cancel to near zero, their own rounding shows.)
    EXPECT_TRUE((error <= exact[i].abs() * std::pow(2.0, -8) + 1e-6).all().item<bool>()) << "output " << i << ", max error " << error.max();
  }
  const torch::Tensor upstream = torch::randn({kBatch, kHeads, kSteps, kHeadDim}).to(torch::kBFloat16);
  (fused[0] * upstream + fused[1] * upstream).sum().backward();
  (exact[0] * upstream.to(torch::kFloat64) + exact[1] * upstream.to(torch::kFloat64)).sum().backward();
  const torch::Tensor grad_error = (input.grad().to(torch::kFloat64) - exact_input.grad()).abs();
  EXPECT_TRUE((grad_error <= exact_input.grad().abs() * std::pow(2.0, -8) + 1e-6).all().item<bool>()) << grad_error.max();
}

TEST(AttentionHeads, RotationPreservesNormsAndLeavesValuesAlone) {
  const RotaryEmbedding rotary(kHeadDim, 32);
  torch::manual_seed(4);
  const torch::Tensor qkv = torch::randn({kBatch, kSteps, 3 * kHeads * kHeadDim}, torch::kFloat64);
  const auto [q, k, v] = attention_heads(qkv, kHeads, &rotary, 9);
  const auto [q0, k0, v0] = attention_heads(qkv, kHeads, nullptr, 0);
  // A rotation of each channel pair keeps every row's length (to the fp32 precision of the
  // cos/sin table: cos^2 + sin^2 = 1 +- 1e-7); v is never rotated.
  EXPECT_TRUE(torch::allclose(q.norm(2, -1), q0.norm(2, -1), 1e-6, 0.0));
  EXPECT_TRUE(torch::allclose(k.norm(2, -1), k0.norm(2, -1), 1e-6, 0.0));
  EXPECT_FALSE(torch::allclose(q, q0));
  EXPECT_TRUE(torch::equal(v, v0));
}

TEST(AttentionHeads, PositionsPastTheTableAndBadWidthsAreRefusedWithTheLimits) {
  const RotaryEmbedding rotary(kHeadDim, 8);
  const torch::Tensor qkv = torch::randn({1, 4, 3 * kHeads * kHeadDim});
  try {
    attention_heads(qkv, kHeads, &rotary, 6);
    FAIL() << "positions 6..9 of 8 accepted";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("position 9 is past the last of 8"), std::string::npos) << e.what();
  }
  try {
    attention_heads(torch::randn({1, 4, 50}), kHeads, nullptr, 0);
    FAIL() << "width 50 accepted for 3 x 3 heads";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("width 50"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wm::dynamics
