// Building blocks of the encoder and decoder: residual blocks (GroupNorm + SiLU + 3x3
// convs), stride-2 downsampling, nearest-neighbour upsampling and single-head
// self-attention over the grid.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

namespace wm::tokenizer {

// x + conv(silu(norm(conv(silu(norm(x)))))), with a 1x1 projection when channels change.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);  // [B, Cin, H, W] -> [B, Cout, H, W]

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
};
TORCH_MODULE(ResBlock);

class DownsampleImpl : public torch::nn::Module {
 public:
  explicit DownsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> [B, C, H/2, W/2]

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Downsample);

class UpsampleImpl : public torch::nn::Module {
 public:
  explicit UpsampleImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, H, W] -> [B, C, 2H, 2W]

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Upsample);

// Self-attention among the h*w positions of the bottleneck, one head.
class AttentionBlockImpl : public torch::nn::Module {
 public:
  explicit AttentionBlockImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, h, w] -> same

 private:
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d qkv_{nullptr}, out_{nullptr};
};
TORCH_MODULE(AttentionBlock);

torch::nn::GroupNorm group_norm(int64_t channels);

// silu(norm(x)) through the fused op (tokenizer/group_norm_silu.h).
torch::Tensor norm_silu(const torch::nn::GroupNorm& norm, const torch::Tensor& x);

}  // namespace wm::tokenizer
