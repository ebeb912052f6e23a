// Code vectors back to frames, mirroring the encoder: 3x3 conv from the code space, a middle
// (res, attention, res), then per level (coarse to fine) residual blocks and nearest x2
// upsampling, and a conv to RGB.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "tokenizer/conv_blocks.h"
#include "tokenizer/tokenizer_options.h"

namespace wm::tokenizer {

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const TokenizerOptions& options);
  // z: [B, code_dim, h, w] -> [B, 3, H, W], roughly in [-1, 1]
  torch::Tensor forward(const torch::Tensor& z);

 private:
  torch::nn::Conv2d from_code_{nullptr};
  ResBlock mid1_{nullptr}, mid2_{nullptr};
  AttentionBlock attention_{nullptr};
  torch::nn::ModuleList levels_;  // per level, coarse to fine: res blocks, then an Upsample
  torch::nn::GroupNorm norm_out_{nullptr};
  torch::nn::Conv2d to_rgb_{nullptr};
};
TORCH_MODULE(Decoder);

}  // namespace wm::tokenizer
