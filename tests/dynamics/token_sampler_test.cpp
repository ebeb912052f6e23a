// The one-draw-per-row sampler: its frequencies are the softmax's, temperature 0 is argmax,
// top-k keeps to the k most likely, and a seed repeats a dream.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dynamics/token_sampler.h"
#include "test_support.h"

namespace wm::dynamics {
namespace {

// Pearson's chi-square of observed counts against expected probabilities (both [V]).
double chi_square(const torch::Tensor& counts, const torch::Tensor& probs) {
  const torch::Tensor expected = probs.to(torch::kFloat64) * counts.sum().to(torch::kFloat64);
  return ((counts.to(torch::kFloat64) - expected).pow(2) / expected).sum().item<double>();
}

TEST(TokenSampler, FrequenciesMatchTheSoftmax) {
  // 8 tokens with probabilities from 0.4% to 40%, 2 rows of different shapes, 50,000 draws
  // each. The 99.9% point of chi-square with 7 degrees of freedom is 24.32.
  const torch::Tensor logits = torch::tensor({{2.0f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -2.0f, -2.5f},
                                              {-1.0f, 0.0f, 3.0f, 0.2f, 1.5f, -3.0f, 0.7f, 0.1f}});
  for (SamplingMethod method : {SamplingMethod::kInverseCdf, SamplingMethod::kMultinomial})
  for (double temperature : {1.0, 0.7}) {
    TokenSampler sampler({.temperature = temperature, .seed = 11, .method = method});
    const int64_t draws = 50000;
    const torch::Tensor picked = sampler.sample(logits.unsqueeze(1).expand({2, draws, 8}));  // [2, draws]
    for (int64_t row = 0; row < 2; ++row) {
      const torch::Tensor counts = torch::bincount(picked[row], /*weights=*/{}, /*minlength=*/8);
      const torch::Tensor probs = torch::softmax(logits[row].to(torch::kFloat64) / temperature, -1);
      EXPECT_LT(chi_square(counts, probs), 24.32) << "row " << row << ", temperature " << temperature << ", method " << static_cast<int>(method) << ", counts " << counts;
    }
  }
}

TEST(TokenSampler, TopKFrequenciesMatchTheRenormalisedTopK) {
  const torch::Tensor logits = torch::tensor({0.3f, 2.0f, -1.0f, 1.2f, 1.9f, -4.0f});
  TokenSampler sampler({.temperature = 1.0, .top_k = 3, .seed = 5});
  const torch::Tensor picked = sampler.sample(logits.expand({30000, 6}));
  const torch::Tensor counts = torch::bincount(picked, {}, 6);
  // Only tokens 1, 4, 3 (the three largest) appear; among them, softmax proportions
  // (chi-square, 2 degrees of freedom: 99.9% point 13.82).
  EXPECT_EQ(counts[0].item<int64_t>() + counts[2].item<int64_t>() + counts[5].item<int64_t>(), 0);
  const torch::Tensor kept = torch::tensor({1, 4, 3}, torch::kInt64);
  EXPECT_LT(chi_square(counts.index_select(0, kept), torch::softmax(logits.index_select(0, kept).to(torch::kFloat64), -1)), 13.82);
}

TEST(TokenSampler, TemperatureZeroIsTheArgmax) {
  const torch::Tensor logits = torch::randn({64, 3, 1024});
  TokenSampler sampler({.temperature = 0.0});
  EXPECT_TRUE(torch::equal(sampler.sample(logits), logits.argmax(-1)));
}

TEST(TokenSampler, TheSameSeedGivesTheSameTokensAndAnotherSeedOthers) {
  const torch::Tensor logits = torch::randn({256, 1024});
  TokenSampler a({.seed = 3}), b({.seed = 3}), c({.seed = 4});
  const torch::Tensor first = a.sample(logits);
  EXPECT_TRUE(torch::equal(first, b.sample(logits)));
  EXPECT_FALSE(torch::equal(first, c.sample(logits)));
  EXPECT_FALSE(torch::equal(first, a.sample(logits)));  // the generator moves on
}

TEST(TokenSampler, InverseCdfNeverPicksAZeroEntryAndHandlesTheEnds) {
  const torch::Tensor probs = torch::tensor({{0.0f, 0.5f, 0.0f, 0.5f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f, 2.0f}});
  const torch::Tensor low = inverse_cdf_sample(probs, torch::tensor({0.0, 0.0}, torch::kFloat64));
  const torch::Tensor high = inverse_cdf_sample(probs, torch::tensor({0.999999999, 0.999999999}, torch::kFloat64));
  EXPECT_TRUE(torch::equal(low, torch::tensor({1, 4}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(high, torch::tensor({3, 4}, torch::kInt64)));
  EXPECT_NE(test::error_of([&] { inverse_cdf_sample(probs, torch::zeros({3}, torch::kFloat64)); }).find("uniforms [N]"), std::string::npos);
}

TEST(TokenSampler, NegativeTemperatureOrTopKIsRefused) {
  EXPECT_NE(test::error_of([] { TokenSampler({.temperature = -1.0}); }).find("temperature -1"), std::string::npos);
  EXPECT_NE(test::error_of([] { TokenSampler({.top_k = -2}); }).find("top_k -2"), std::string::npos);
}

}  // namespace
}  // namespace wm::dynamics
