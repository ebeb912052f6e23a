#include "policy/policy_inputs.h"

#include <torch/torch.h>

#include <cmath>

#include "core/error.h"

namespace wm::policy {

PolicyInputs::PolicyInputs(tokenizer::VQModel tokenizer, PolicyInput kind) : tokenizer_(std::move(tokenizer)), kind_(kind) {
  if (kind_ == PolicyInput::kPixels) throw core::Error("policy.input = pixels reads the real frames: it has no tokenizer and cannot dream (wm train modelfree)");
  tokenizer_->eval();
}

PolicyInputs PolicyInputs::pixels(int64_t height, int64_t width, c10::Device device) {
  PolicyInputs inputs;
  inputs.device_ = device;
  inputs.kind_ = PolicyInput::kPixels;
  inputs.height_ = height;
  inputs.width_ = width;
  return inputs;
}

void PolicyInputs::fit(PolicyOptions& options) const {
  if (kind_ == PolicyInput::kPixels) {
    options.input = kind_;
    options.input_channels = 3;
    options.input_height = height_;
    options.input_width = width_;
    return;
  }
  const auto& t = tokenizer_->options();
  options.input = kind_;
  options.input_channels = kind_ == PolicyInput::kTokens ? t.code_dim : 3;
  options.input_height = kind_ == PolicyInput::kTokens ? t.grid_height() : t.height;
  options.input_width = kind_ == PolicyInput::kTokens ? t.grid_width() : t.width;
}

at::Tensor PolicyInputs::from_tokens(const at::Tensor& tokens) {
  if (kind_ == PolicyInput::kPixels) throw core::Error("a policy that reads pixels (policy.input = pixels) cannot act in a dream");
  torch::NoGradGuard no_grad;
  const auto& t = tokenizer_->options();
  const at::Tensor grid = tokens.reshape({tokens.size(0), t.grid_height(), t.grid_width()});
  if (kind_ == PolicyInput::kTokens) {
    // Unit-length code vectors: scaled to unit variance per channel.
    const double scale = std::sqrt(static_cast<double>(t.code_dim));
    return (tokenizer_->embed(grid) * scale).permute({0, 3, 1, 2}).contiguous();  // [B, D, h, w]
  }
  // The reconstruction in [-1, 1], [B, 3, H, W].
  return tokenizer_->decode(grid).permute({0, 3, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0).contiguous();
}

at::Tensor PolicyInputs::from_frames(const at::Tensor& frames) {
  if (kind_ == PolicyInput::kPixels) {
    torch::NoGradGuard no_grad;
    return frames.to(device_).permute({0, 3, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0).contiguous();  // [B, 3, H, W]
  }
  const at::Tensor tokens = tokenizer_->encode(frames);  // [B, h, w]
  return from_tokens(tokens.reshape({tokens.size(0), -1}));
}

}  // namespace wm::policy
