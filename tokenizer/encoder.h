// Frames to the pre-quantization grid: conv stem, residual blocks per level with stride-2
// downsampling between levels, a middle (res, attention, res), and a 1x1 projection into
// the code space.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include "tokenizer/conv_blocks.h"
#include "tokenizer/tokenizer_options.h"

namespace wm::tokenizer {

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const TokenizerOptions& options);
  // x: float [B, 3, H, W] in [-1, 1] -> [B, code_dim, H/d, W/d] (not yet normalized)
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d stem_{nullptr};
  torch::nn::ModuleList levels_;  // per level: res blocks, then a Downsample (not after the last)
  ResBlock mid1_{nullptr}, mid2_{nullptr};
  AttentionBlock attention_{nullptr};
  torch::nn::GroupNorm norm_out_{nullptr};
  torch::nn::Conv2d to_code_{nullptr};
};
TORCH_MODULE(Encoder);

}  // namespace wm::tokenizer
