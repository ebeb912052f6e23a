// The patch-GAN discriminator of the optional adversarial term (VQGAN, after pix2pix): a
// small convolutional net that scores every overlapping patch of a frame as real or
// reconstructed, so the decoder is pushed towards sharp local texture that L1/L2 alone
// blur away. Used only in training; never stored in the tokenizer's own module.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

namespace wm::tokenizer {

class PatchDiscriminatorImpl : public torch::nn::Module {
 public:
  // `layers` stride-2 4x4 convs from `channels` wide (doubling, capped at 8x), then one
  // stride-1 layer and a 1-channel logit conv: 64x64 frames with 3 layers -> 6x6 patch logits.
  PatchDiscriminatorImpl(int64_t channels, int64_t layers);
  torch::Tensor forward(const torch::Tensor& x);  // [B, 3, H, W] in [-1, 1] -> logits [B, 1, h, w]

 private:
  torch::nn::Sequential net_{nullptr};
};
TORCH_MODULE(PatchDiscriminator);

// Hinge losses (Geometric GAN; as in VQGAN): the discriminator wants real logits >= 1 and
// reconstructed logits <= -1; the generator raises its logits.
torch::Tensor discriminator_hinge_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits);
torch::Tensor generator_adversarial_loss(const torch::Tensor& fake_logits);

}  // namespace wm::tokenizer
