// What the policy reads of a frame, made from its tokens (in dreams) or from its pixels (in
// the real environment, through the tokenizer), so that both look the same to the policy:
// the codebook vectors of the tokens [D, h, w], or the tokenizer's reconstruction [3, H, W].
// A model-free policy (PolicyInput::kPixels) reads the real frame itself and has no tokenizer.
#pragma once

#include <ATen/core/Tensor.h>

#include "policy/policy_options.h"
#include "tokenizer/vq_model.h"

namespace wm::policy {

class PolicyInputs {
 public:
  // The tokenizer stays frozen (eval mode); nothing here has gradients.
  PolicyInputs(tokenizer::VQModel tokenizer, PolicyInput kind);
  // The real frames of `height` x `width`, as they are (kPixels), on `device`.
  static PolicyInputs pixels(int64_t height, int64_t width, c10::Device device);

  // int64 [B, K] -> float [B, C, h, w] on the tokenizer's device. Throws wm::core::Error for
  // pixels: a model-free policy cannot dream.
  at::Tensor from_tokens(const at::Tensor& tokens);
  // uint8 [B, H, W, 3] -> the same, through the tokenizer's encoder (pixels: [B, 3, H, W] in [-1, 1]).
  at::Tensor from_frames(const at::Tensor& frames);

  // The fixed part of PolicyOptions: the input's channels and size.
  void fit(PolicyOptions& options) const;
  PolicyInput kind() const { return kind_; }
  // Null for pixels.
  tokenizer::VQModel& tokenizer() { return tokenizer_; }

 private:
  PolicyInputs() = default;

  tokenizer::VQModel tokenizer_{nullptr};
  PolicyInput kind_ = PolicyInput::kPixels;
  int64_t height_ = 0, width_ = 0;  // pixels: the frame size
  c10::Device device_{c10::kCPU};   // pixels: where the policy runs
};

}  // namespace wm::policy
