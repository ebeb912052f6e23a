#include "tokenizer/decoder.h"

#include <torch/torch.h>

namespace wm::tokenizer {

DecoderImpl::DecoderImpl(const TokenizerOptions& o) {
  int64_t channels = o.base_channels * o.channel_mult.back();
  from_code_ = register_module("from_code", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.code_dim, channels, 3).padding(1)));
  mid1_ = register_module("mid1", ResBlock(channels, channels));
  if (o.attention) attention_ = register_module("attention", AttentionBlock(channels));
  mid2_ = register_module("mid2", ResBlock(channels, channels));
  levels_ = register_module("levels", torch::nn::ModuleList());
  for (size_t i = o.channel_mult.size(); i-- > 0;) {
    const int64_t out = o.base_channels * o.channel_mult[i];
    for (int64_t r = 0; r < o.res_blocks; ++r) {
      levels_->push_back(ResBlock(channels, out));
      channels = out;
    }
    if (i > 0) levels_->push_back(Upsample(channels));
  }
  norm_out_ = register_module("norm_out", group_norm(channels));
  to_rgb_ = register_module("to_rgb", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 3, 3).padding(1)));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  auto h = mid1_(from_code_(z));
  if (attention_) h = attention_(h);
  h = mid2_(h);
  for (const auto& module : *levels_) {
    if (auto* res = module->as<ResBlockImpl>()) h = res->forward(h);
    else h = module->as<UpsampleImpl>()->forward(h);
  }
  return to_rgb_(norm_silu(norm_out_, h));
}

}  // namespace wm::tokenizer
