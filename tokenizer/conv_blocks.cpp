#include "tokenizer/conv_blocks.h"

#include <torch/torch.h>

#include "tokenizer/group_norm_silu.h"

namespace wm::tokenizer {

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2));
}

}  // namespace

torch::nn::GroupNorm group_norm(int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(/*num_groups=*/std::min<int64_t>(32, channels / 4), channels).eps(1e-6));
}

torch::Tensor norm_silu(const torch::nn::GroupNorm& norm, const torch::Tensor& x) {
  const auto& o = norm->options;
  return group_norm_silu(x, norm->weight, norm->bias, o.num_groups(), o.eps());
}

ResBlockImpl::ResBlockImpl(int64_t in_channels, int64_t out_channels)
    : norm1_(register_module("norm1", group_norm(in_channels))),
      norm2_(register_module("norm2", group_norm(out_channels))),
      conv1_(register_module("conv1", conv(in_channels, out_channels, 3))),
      conv2_(register_module("conv2", conv(out_channels, out_channels, 3))) {
  if (in_channels != out_channels) skip_ = register_module("skip", conv(in_channels, out_channels, 1));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) {
  auto h = conv1_(norm_silu(norm1_, x));
  h = conv2_(norm_silu(norm2_, h));
  return (skip_ ? skip_(x) : x) + h;
}

DownsampleImpl::DownsampleImpl(int64_t channels) : conv_(register_module("conv", conv(channels, channels, 3, /*stride=*/2))) {}

torch::Tensor DownsampleImpl::forward(const torch::Tensor& x) { return conv_(x); }

UpsampleImpl::UpsampleImpl(int64_t channels) : conv_(register_module("conv", conv(channels, channels, 3))) {}

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  return conv_(F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
}

AttentionBlockImpl::AttentionBlockImpl(int64_t channels)
    : norm_(register_module("norm", group_norm(channels))),
      qkv_(register_module("qkv", conv(channels, 3 * channels, 1))),
      out_(register_module("out", conv(channels, channels, 1))) {}

torch::Tensor AttentionBlockImpl::forward(const torch::Tensor& x) {
  const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // [B, 3C, h, w] -> three [B, 1, hw, C] (one head)
  auto qkv = qkv_(norm_(x)).reshape({b, 3, c, h * w}).permute({1, 0, 3, 2}).unsqueeze(2);
  auto attended = at::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]);  // [B, 1, hw, C]
  attended = attended.squeeze(1).transpose(1, 2).reshape({b, c, h, w});
  return x + out_(attended);
}

}  // namespace wm::tokenizer
