// What the policy reads of a frame, made from its tokens (in dreams) or from its pixels (in
// the real environment, through the tokenizer), so that both look the same to the policy:
// the codebook vectors of the tokens [D, h, w], or the tokenizer's reconstruction [3, H, W].
#pragma once

#include <ATen/core/Tensor.h>

#include "policy/policy_options.h"
#include "tokenizer/vq_model.h"

namespace wm::policy {

class PolicyInputs {
 public:
  // The tokenizer stays frozen (eval mode); nothing here has gradients.
  PolicyInputs(tokenizer::VQModel tokenizer, PolicyInput kind);

  // int64 [B, K] -> float [B, C, h, w] on the tokenizer's device.
  at::Tensor from_tokens(const at::Tensor& tokens);
  // uint8 [B, H, W, 3] -> the same, through the tokenizer's encoder.
  at::Tensor from_frames(const at::Tensor& frames);

  // The fixed part of PolicyOptions: the input's channels and size.
  void fit(PolicyOptions& options) const;
  PolicyInput kind() const { return kind_; }
  tokenizer::VQModel& tokenizer() { return tokenizer_; }

 private:
  tokenizer::VQModel tokenizer_;
  PolicyInput kind_;
};

}  // namespace wm::policy
