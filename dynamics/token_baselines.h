// Reference points for the dynamics model's held-out bits/token, on the same targets (the
// tokens of frames 2..L of each window, where the previous frame is in view):
//   unigram — every token drawn from the training tokens' frequencies (add-one smoothed);
//   copy    — "the next frame is the previous one": the token at the same place with the
//             probability alpha it held on the training data, the rest spread evenly.
// A model that beats both has learned more than the token statistics and the static scene.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "core/metrics.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

struct TokenBaselines {
  double unigram_bits = 0;  // held-out bits/token
  double copy_bits = 0;
  double copy_accuracy = 0;  // share of held-out next-frame tokens equal to the previous frame's
  // The same on the split the model's next_frame_changed_* / unchanged_* figures use: tokens
  // that differ from the previous frame's (where copying is always wrong) and those that do
  // not (always right). 0 for a split without tokens.
  double unigram_changed_bits = 0, unigram_unchanged_bits = 0;
  double copy_changed_bits = 0, copy_unchanged_bits = 0;

  // As metrics.jsonl holds them: dynamics/holdout_unigram_bits, dynamics/holdout_copy_bits, ...
  core::Scalars scalars() const;
};

class TokenBaselineFit {
 public:
  explicit TokenBaselineFit(int64_t vocab_size);

  void add_training(const DynamicsBatch& batch);
  TokenBaselines evaluate(const std::vector<DynamicsBatch>& holdout) const;

 private:
  int64_t vocab_size_;
  at::Tensor counts_;  // int64 [V]
  int64_t copy_hits_ = 0, copy_total_ = 0;
};

// The next-frame targets of a batch and the previous frame's token at each: int64 [N] each.
std::pair<at::Tensor, at::Tensor> next_frame_targets(const DynamicsBatch& batch);

}  // namespace wm::dynamics
