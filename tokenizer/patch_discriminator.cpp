#include "tokenizer/patch_discriminator.h"

#include <torch/torch.h>

#include "tokenizer/conv_blocks.h"

namespace wm::tokenizer {

namespace {

torch::nn::Conv2d conv4(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 4).stride(stride).padding(1));
}

torch::nn::LeakyReLU leaky() { return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)); }

}  // namespace

PatchDiscriminatorImpl::PatchDiscriminatorImpl(int64_t channels, int64_t layers) {
  // GroupNorm rather than pix2pix's BatchNorm: no running statistics to keep in step
  // across data-parallel ranks, and the same behaviour in train and eval.
  net_ = register_module("net", torch::nn::Sequential());
  net_->push_back(conv4(3, channels, 2));
  net_->push_back(leaky());
  int64_t width = channels;
  for (int64_t layer = 1; layer <= layers; ++layer) {
    const int64_t next = channels * std::min<int64_t>(int64_t{1} << layer, 8);
    net_->push_back(conv4(width, next, layer < layers ? 2 : 1));
    net_->push_back(group_norm(next));
    net_->push_back(leaky());
    width = next;
  }
  net_->push_back(conv4(width, 1, 1));
}

torch::Tensor PatchDiscriminatorImpl::forward(const torch::Tensor& x) { return net_->forward(x); }

torch::Tensor discriminator_hinge_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits) {
  return 0.5 * (torch::relu(1.0 - real_logits).mean() + torch::relu(1.0 + fake_logits).mean());
}

torch::Tensor generator_adversarial_loss(const torch::Tensor& fake_logits) { return -fake_logits.mean(); }

}  // namespace wm::tokenizer
