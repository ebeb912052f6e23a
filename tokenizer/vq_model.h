// The VQ autoencoder: encoder -> vector quantizer -> decoder, with the public tokenizer API
// the rest of wm uses (encode frames to tokens, decode tokens to frames, embed tokens as
// code vectors) and the training loss.
#pragma once

#include <torch/nn/module.h>

#include "core/loss_terms.h"
#include "tokenizer/decoder.h"
#include "tokenizer/encoder.h"
#include "tokenizer/tokenizer_options.h"
#include "tokenizer/vector_quantizer.h"

namespace wm::tokenizer {

struct Reconstruction {
  torch::Tensor frames;      // float [B, 3, H, W] in [-1, 1] (unclamped)
  torch::Tensor tokens;      // int64 [B, h, w]
  torch::Tensor commitment;  // scalar
};

class VQModelImpl : public torch::nn::Module {
 public:
  explicit VQModelImpl(TokenizerOptions options);

  // uint8 [B, H, W, 3] frames -> int64 [B, h, w] tokens. Deterministic in eval mode.
  torch::Tensor encode(const torch::Tensor& frames);
  // int64 [B, h, w] tokens -> uint8 [B, H, W, 3] frames.
  torch::Tensor decode(const torch::Tensor& tokens);
  // int64 [B, h, w] tokens -> float [B, h, w, code_dim] code vectors (what the policy reads).
  torch::Tensor embed(const torch::Tensor& tokens) const;

  // float [B, 3, H, W] in [-1, 1] -> reconstruction through the quantizer.
  Reconstruction forward(const torch::Tensor& x);
  // L1 + L2 reconstruction + commitment of `r`, the reconstruction of input x; logs
  // recon_l1, recon_l2, commitment, psnr_db, perplexity.
  core::LossTerms reconstruction_loss(const torch::Tensor& x, const Reconstruction& r) const;
  // The same on uint8 frames [B, H, W, 3].
  core::LossTerms compute_loss(const torch::Tensor& frames);

  const TokenizerOptions& options() const { return options_; }
  VectorQuantizer& quantizer() { return quantizer_; }

  // uint8 [B, H, W, 3] -> float [B, 3, H, W] in [-1, 1], checking dtype and size.
  torch::Tensor frames_to_input(const torch::Tensor& frames) const;
  static torch::Tensor output_to_frames(const torch::Tensor& x);  // [B, 3, H, W] -> uint8 [B, H, W, 3]

 private:
  void check_tokens(const torch::Tensor& tokens) const;

  TokenizerOptions options_;
  Encoder encoder_{nullptr};
  VectorQuantizer quantizer_{nullptr};
  Decoder decoder_{nullptr};
};
TORCH_MODULE(VQModel);

}  // namespace wm::tokenizer
