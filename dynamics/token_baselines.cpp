#include "dynamics/token_baselines.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace wm::dynamics {

std::pair<at::Tensor, at::Tensor> next_frame_targets(const DynamicsBatch& batch) {
  const int64_t L = batch.tokens.size(1);
  const at::Tensor tokens = batch.tokens.to(torch::kCPU, torch::kInt64);
  const at::Tensor mask = batch.mask.to(torch::kCPU, torch::kBool);
  // Both the frame and the one before it must be real.
  const at::Tensor both = (mask.narrow(1, 1, L - 1) & mask.narrow(1, 0, L - 1)).unsqueeze(2).expand_as(tokens.narrow(1, 1, L - 1));
  return {tokens.narrow(1, 1, L - 1).masked_select(both), tokens.narrow(1, 0, L - 1).masked_select(both)};
}

TokenBaselineFit::TokenBaselineFit(int64_t vocab_size) : vocab_size_(vocab_size), counts_(torch::zeros({vocab_size}, torch::kInt64)) {}

void TokenBaselineFit::add_training(const DynamicsBatch& batch) {
  const at::Tensor mask = batch.mask.to(torch::kCPU, torch::kBool);
  const at::Tensor tokens = batch.tokens.to(torch::kCPU, torch::kInt64).masked_select(mask.unsqueeze(2).expand_as(batch.tokens));
  counts_ += torch::bincount(tokens, {}, vocab_size_);
  const auto [targets, previous] = next_frame_targets(batch);
  copy_hits_ += (targets == previous).sum().item<int64_t>();
  copy_total_ += targets.numel();
}

TokenBaselines TokenBaselineFit::evaluate(const std::vector<DynamicsBatch>& holdout) const {
  const at::Tensor log2_unigram = torch::log2((counts_.to(torch::kFloat64) + 1.0) / static_cast<double>(counts_.sum().item<int64_t>() + vocab_size_));
  const double alpha = std::clamp(copy_total_ > 0 ? static_cast<double>(copy_hits_) / static_cast<double>(copy_total_) : 0.0, 1e-6, 1.0 - 1e-6);
  const double copy_hit_bits = -std::log2(alpha), copy_miss_bits = -std::log2((1.0 - alpha) / static_cast<double>(vocab_size_ - 1));
  double unigram_changed = 0, unigram_unchanged = 0, hits = 0, count = 0;
  for (const auto& batch : holdout) {
    const auto [targets, previous] = next_frame_targets(batch);
    const at::Tensor same = targets == previous;
    const at::Tensor bits = -log2_unigram.index({targets});
    unigram_unchanged += bits.masked_select(same).sum().item<double>();
    unigram_changed += bits.masked_select(~same).sum().item<double>();
    hits += static_cast<double>(same.sum().item<int64_t>());
    count += static_cast<double>(targets.numel());
  }
  TokenBaselines b;
  if (count == 0) return b;
  const double misses = count - hits;
  b.unigram_bits = (unigram_changed + unigram_unchanged) / count;
  b.copy_accuracy = hits / count;
  b.copy_bits = (hits * copy_hit_bits + misses * copy_miss_bits) / count;
  if (misses > 0) {
    b.unigram_changed_bits = unigram_changed / misses;
    b.copy_changed_bits = copy_miss_bits;
  }
  if (hits > 0) {
    b.unigram_unchanged_bits = unigram_unchanged / hits;
    b.copy_unchanged_bits = copy_hit_bits;
  }
  return b;
}

core::Scalars TokenBaselines::scalars() const {
  return {{"dynamics/holdout_unigram_bits", unigram_bits},
          {"dynamics/holdout_copy_bits", copy_bits},
          {"dynamics/holdout_copy_accuracy", copy_accuracy},
          {"dynamics/holdout_unigram_changed_bits", unigram_changed_bits},
          {"dynamics/holdout_unigram_unchanged_bits", unigram_unchanged_bits},
          {"dynamics/holdout_copy_changed_bits", copy_changed_bits},
          {"dynamics/holdout_copy_unchanged_bits", copy_unchanged_bits}};
}

}  // namespace wm::dynamics
