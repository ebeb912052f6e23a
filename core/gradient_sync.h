// The gradient boundary of a training step: what happens between the backward passes and the
// gradient clip. On one process nothing (LocalGradients); under data parallelism
// (dist/bucketed_all_reduce.h) the gradients of every rank are averaged there — the reduction
// starts during backward, bucket by bucket, and finish() waits for it — so the clip and the
// logged gradient norm see the global gradient, the same on every rank.
//
//   for (micro-step m) { sync.before_backward(/*last=*/m + 1 == M); loss.backward(); }
//   sync.finish();                        // every .grad is now the mean over the ranks
//   clip_grad_norm_(...); optimizer.step();
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <vector>

namespace wm::core {

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Before each backward pass of a step. `last` is false for gradient-accumulation
  // micro-steps: their gradients only add up locally, nothing is sent.
  virtual void before_backward(bool last) = 0;
  // After the last backward pass of the step: returns when every parameter's .grad holds the
  // mean over all ranks (a parameter no rank gave a gradient keeps none).
  virtual void finish() = 0;
};

// One process: the gradients are already the whole batch's.
class LocalGradients final : public GradientSync {
 public:
  void before_backward(bool /*last*/) override {}
  void finish() override {}
};

// Builds the GradientSync of one parameter group (a trainer may have several: the tokenizer's
// autoencoder and its discriminator step apart).
using GradientSyncFactory = std::function<std::unique_ptr<GradientSync>(const std::vector<at::Tensor>& parameters)>;

// The factory of one process: LocalGradients for every group.
inline GradientSyncFactory local_gradients() {
  return [](const std::vector<at::Tensor>&) { return std::make_unique<LocalGradients>(); };
}

}  // namespace wm::core
