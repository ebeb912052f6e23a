// What every trainable component's compute_loss(batch) returns, so one update step serves
// the tokenizer, the dynamics model and the policy: the scalar to minimize, and named
// figures to log.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace wm::core {

struct LossTerms {
  at::Tensor total;                                   // scalar; backward() starts here
  std::vector<std::pair<std::string, double>> logs;   // e.g. {"recon_l1", 0.031}
};

}  // namespace wm::core
