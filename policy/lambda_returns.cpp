#include "policy/lambda_returns.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::policy {

at::Tensor lambda_returns(const at::Tensor& rewards, const at::Tensor& continues, const at::Tensor& values, double gamma, double lambda) {
  if (rewards.dim() != 2 || continues.sizes() != rewards.sizes() || values.dim() != 2 || values.size(0) != rewards.size(0) ||
      values.size(1) != rewards.size(1) + 1) {
    throw core::Error("lambda_returns: rewards and continues must be [B, H] and values [B, H + 1], got " + c10::str(rewards.sizes()) +
                      ", " + c10::str(continues.sizes()) + ", " + c10::str(values.sizes()));
  }
  const int64_t H = rewards.size(1);
  std::vector<at::Tensor> returns(static_cast<size_t>(H));
  at::Tensor next = values.select(1, H);  // R_H = V_H
  for (int64_t t = H - 1; t >= 0; --t) {
    next = rewards.select(1, t) + gamma * continues.select(1, t) * ((1 - lambda) * values.select(1, t + 1) + lambda * next);
    returns[static_cast<size_t>(t)] = next;
  }
  return torch::stack(returns, 1);
}

}  // namespace wm::policy
