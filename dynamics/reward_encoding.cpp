#include "dynamics/reward_encoding.h"

#include <torch/torch.h>

#include <cmath>

namespace wm::dynamics {

at::Tensor symlog(const at::Tensor& x) { return torch::sign(x) * torch::log1p(torch::abs(x)); }

at::Tensor symexp(const at::Tensor& x) { return torch::sign(x) * torch::expm1(torch::abs(x)); }

RewardEncoding::RewardEncoding(const DynamicsOptions& options) : head_(options.reward_head) {
  if (head_ == RewardHead::kTwoHot) {
    const double edge = std::log1p(20.0);  // DreamerV3's range: rewards within +-20 hit a bin exactly
    bins_ = torch::linspace(-edge, edge, options.reward_bins);
  }
}

int64_t RewardEncoding::classes() const { return head_ == RewardHead::kSign ? 3 : bins_.size(0); }

at::Tensor RewardEncoding::encode(const at::Tensor& rewards) const {
  const at::Tensor r = rewards.to(torch::kFloat32);
  if (head_ == RewardHead::kSign) return torch::one_hot((torch::sign(r) + 1).to(torch::kInt64), 3).to(torch::kFloat32);
  // Two-hot: the weight splits between the two bins around symlog(r), by distance.
  const at::Tensor bins = bins_.to(r.device());
  const int64_t n = bins.size(0);
  const at::Tensor y = symlog(r).clamp(bins[0].item<double>(), bins[n - 1].item<double>());
  const at::Tensor upper = torch::searchsorted(bins, y.contiguous()).clamp(1, n - 1);  // first bin >= y
  const at::Tensor lower = upper - 1;
  const at::Tensor low_value = bins.index({lower}), high_value = bins.index({upper});
  const at::Tensor high_weight = (y - low_value) / (high_value - low_value);
  return torch::one_hot(lower, n).to(torch::kFloat32) * (1 - high_weight).unsqueeze(-1) +
         torch::one_hot(upper, n).to(torch::kFloat32) * high_weight.unsqueeze(-1);
}

at::Tensor RewardEncoding::decode(const at::Tensor& logits) const {
  if (head_ == RewardHead::kSign) return (logits.argmax(-1) - 1).to(torch::kFloat32);
  const at::Tensor p = torch::softmax(logits.to(torch::kFloat32), -1);
  return symexp((p * bins_.to(logits.device())).sum(-1));
}

}  // namespace wm::dynamics
