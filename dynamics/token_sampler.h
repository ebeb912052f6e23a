// Draws the next tokens from logits with one random number per row: the inverse of the
// cumulative softmax at a uniform draw. torch::multinomial draws one number per vocabulary
// entry (an exponential per entry, then an argmax) — at [256 rows, 1024 tokens] that is 262k
// draws for 256 samples, ~16% of an autoregressive dream step. Same distribution, seeded
// and reproducible: the same seed and logits give the same tokens.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace wm::dynamics {

enum class SamplingMethod {
  kInverseCdf,   // one uniform per row (the default)
  kMultinomial,  // torch::multinomial: one exponential per vocabulary entry (for comparisons)
};

struct SamplingOptions {
  double temperature = 1.0;  // 0: always the most likely token
  int64_t top_k = 0;         // > 0: sample among the k most likely tokens only
  uint64_t seed = 0;         // the sampler's own generator: dreams repeat for the same seed
  SamplingMethod method = SamplingMethod::kInverseCdf;
};

class TokenSampler {
 public:
  explicit TokenSampler(SamplingOptions options);

  // logits [..., V] (any float dtype and device) -> int64 [...] on the same device.
  at::Tensor sample(const at::Tensor& logits);
  const SamplingOptions& options() const { return options_; }
  // Starts the generator afresh from `seed` (a trainer reseeds per step, so a resumed run
  // draws what the uninterrupted one drew).
  void reseed(uint64_t seed);
  // From the next draw on (wm play's temperature control).
  void set_temperature(double temperature) { options_.temperature = temperature; }

 private:
  SamplingOptions options_;
  at::Generator generator_;  // CPU: one uniform per row is drawn here, then moved to the device
};

// One index per row of probs [N, V] (non-negative, rows need not sum to 1) at uniforms
// u [N] in [0, 1): the first index whose running sum exceeds u * the row's sum. The kernel
// behind TokenSampler, public for its tests.
at::Tensor inverse_cdf_sample(const at::Tensor& probs, const at::Tensor& uniforms);

}  // namespace wm::dynamics
