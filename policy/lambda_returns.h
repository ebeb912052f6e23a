// λ-returns of imagined trajectories (Sutton & Barto 12.1; IRIS and DreamerV3 use them):
//   R_t = r_t + γ c_t ((1 - λ) V_{t+1} + λ R_{t+1}),   R_H = V_H,
// where c_t = 0 when step t ended the episode, so nothing after it counts.
#pragma once

#include <ATen/core/Tensor.h>

namespace wm::policy {

// rewards, continues [B, H]; values [B, H + 1] -> returns [B, H].
at::Tensor lambda_returns(const at::Tensor& rewards, const at::Tensor& continues, const at::Tensor& values, double gamma, double lambda);

}  // namespace wm::policy
