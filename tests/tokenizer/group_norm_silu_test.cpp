#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tokenizer/group_norm_silu.h"

namespace wm::tokenizer {
namespace {

struct Case {
  int64_t batch, channels, groups, height, width;
};

// The fused op against silu(group_norm(x)) computed in float64: values and all three
// gradients, for the block shapes of the default tokenizer and odd ones.
class GroupNormSiluTest : public ::testing::TestWithParam<Case> {};
void check_against_reference(const Case& c);

// Every kernel build this CPU runs (AVX-512 and AVX2 on x86-64) is checked, the default last.
TEST_P(GroupNormSiluTest, MatchesTheUnfusedOpsInValueAndGradient) {
  const auto kernels = group_norm_silu_kernels();
  ASSERT_FALSE(kernels.empty()) << "no fused build runs here";
  for (auto k = kernels.rbegin(); k != kernels.rend(); ++k) {
    SCOPED_TRACE(*k);
    use_group_norm_silu_kernel(*k);
    check_against_reference(GetParam());
  }
}

void check_against_reference(const Case& c) {
  torch::manual_seed(1);
  // An offset mean and a spread per channel, as conv outputs have.
  const auto x0 = (torch::randn({c.batch, c.channels, c.height, c.width}) * 2.0 + 0.7).contiguous(at::MemoryFormat::ChannelsLast);
  const auto w0 = torch::randn({c.channels}) * 0.5 + 1.0, b0 = torch::randn({c.channels}) * 0.3;
  const auto upstream = torch::randn({c.batch, c.channels, c.height, c.width});

  auto x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
  ASSERT_TRUE(group_norm_silu_is_fused(x, w));
  const auto y = group_norm_silu(x, w, b, c.groups, 1e-6);
  EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
  (y * upstream).sum().backward();

  auto xr = x0.to(torch::kDouble).requires_grad_(), wr = w0.to(torch::kDouble).requires_grad_(), br = b0.to(torch::kDouble).requires_grad_();
  const auto yr = group_norm_silu_reference(xr, wr, br, c.groups, 1e-6);
  (yr * upstream.to(torch::kDouble)).sum().backward();

  auto max_error = [](const torch::Tensor& got, const torch::Tensor& want) {
    return ((got.to(torch::kDouble) - want).abs() / (want.abs() + 1.0)).max().item<double>();
  };
  EXPECT_LT(max_error(y, yr), 2e-6);
  EXPECT_LT(max_error(x.grad(), xr.grad()), 2e-5);
  // Sums over B*H*W positions: relative to their magnitude.
  EXPECT_LT(((w.grad().to(torch::kDouble) - wr.grad()).abs().max() / wr.grad().abs().max()).item<double>(), 2e-5);
  EXPECT_LT(((b.grad().to(torch::kDouble) - br.grad()).abs().max() / br.grad().abs().max()).item<double>(), 2e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GroupNormSiluTest,
                         ::testing::Values(Case{4, 32, 8, 64, 64},    // first level of the default tokenizer
                                           Case{3, 128, 32, 8, 8},    // bottleneck
                                           Case{2, 24, 6, 5, 7},      // odd sizes, 4 channels per group
                                           Case{2, 1040, 4, 3, 2}));  // more channels than one 1024-wide block

TEST(GroupNormSilu, OtherLayoutsAndTypesTakeTheUnfusedPath) {
  const auto x = torch::randn({2, 16, 4, 4}), w = torch::ones({16}), b = torch::zeros({16});
  EXPECT_FALSE(group_norm_silu_is_fused(x, w));  // contiguous NCHW (channels-last only when C == 1 or H*W == 1)
  EXPECT_FALSE(group_norm_silu_is_fused(x.to(torch::kBFloat16).contiguous(at::MemoryFormat::ChannelsLast), w));
  EXPECT_TRUE(torch::allclose(group_norm_silu(x, w, b, 4, 1e-6), group_norm_silu_reference(x, w, b, 4, 1e-6)));
  // Switched off: channels-last float takes the unfused ops too.
  const auto channels_last = x.contiguous(at::MemoryFormat::ChannelsLast);
  use_group_norm_silu_kernel("none");
  EXPECT_FALSE(group_norm_silu_is_fused(channels_last, w));
  use_group_norm_silu_kernel(group_norm_silu_kernels().front());
  EXPECT_TRUE(group_norm_silu_is_fused(channels_last, w));
  EXPECT_THROW(use_group_norm_silu_kernel("sse9"), std::invalid_argument);
}

TEST(GroupNormSilu, InferenceModeGivesTheTrainingValues) {
  torch::manual_seed(2);
  const auto x = torch::randn({2, 32, 8, 8}).contiguous(at::MemoryFormat::ChannelsLast);
  const auto w = torch::randn({32}).requires_grad_(), b = torch::randn({32}).requires_grad_();
  const auto trained = group_norm_silu(x, w, b, 8, 1e-6).detach();
  c10::InferenceMode inference;
  EXPECT_TRUE(torch::equal(group_norm_silu(x, w, b, 8, 1e-6), trained));
}

}  // namespace
}  // namespace wm::tokenizer
