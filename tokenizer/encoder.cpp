#include "tokenizer/encoder.h"

#include <torch/torch.h>

namespace wm::tokenizer {

EncoderImpl::EncoderImpl(const TokenizerOptions& o) {
  const int64_t c0 = o.base_channels * o.channel_mult.front();
  stem_ = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, c0, 3).padding(1)));
  levels_ = register_module("levels", torch::nn::ModuleList());
  int64_t channels = c0;
  for (size_t level = 0; level < o.channel_mult.size(); ++level) {
    const int64_t out = o.base_channels * o.channel_mult[level];
    for (int64_t r = 0; r < o.res_blocks; ++r) {
      levels_->push_back(ResBlock(channels, out));
      channels = out;
    }
    if (level + 1 < o.channel_mult.size()) levels_->push_back(Downsample(channels));
  }
  mid1_ = register_module("mid1", ResBlock(channels, channels));
  if (o.attention) attention_ = register_module("attention", AttentionBlock(channels));
  mid2_ = register_module("mid2", ResBlock(channels, channels));
  norm_out_ = register_module("norm_out", group_norm(channels));
  to_code_ = register_module("to_code", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, o.code_dim, 1)));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x) {
  auto h = stem_(x);
  for (const auto& module : *levels_) {
    if (auto* res = module->as<ResBlockImpl>()) h = res->forward(h);
    else h = module->as<DownsampleImpl>()->forward(h);
  }
  h = mid1_(h);
  if (attention_) h = attention_(h);
  h = mid2_(h);
  return to_code_(norm_silu(norm_out_, h));
}

}  // namespace wm::tokenizer
