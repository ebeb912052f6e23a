// How rewards become classification targets for the reward head and back: the sign of the
// reward as 3 classes (IRIS), or a two-hot vector over bins spaced evenly in symlog space
// (DreamerV3), which regresses rewards of any scale with a cross-entropy loss.
#pragma once

#include <ATen/core/Tensor.h>

#include "dynamics/dynamics_options.h"

namespace wm::dynamics {

at::Tensor symlog(const at::Tensor& x);  // sign(x) * log(1 + |x|)
at::Tensor symexp(const at::Tensor& x);  // its inverse

class RewardEncoding {
 public:
  explicit RewardEncoding(const DynamicsOptions& options);

  int64_t classes() const;
  // rewards float [...] -> target distribution [..., classes] (one-hot or two-hot).
  at::Tensor encode(const at::Tensor& rewards) const;
  // logits [..., classes] -> the reward they predict [...] (the sign for kSign; the expected
  // value in symlog space, mapped back, for kTwoHot).
  at::Tensor decode(const at::Tensor& logits) const;

 private:
  RewardHead head_;
  at::Tensor bins_;  // kTwoHot: [bins] in symlog space
};

}  // namespace wm::dynamics
