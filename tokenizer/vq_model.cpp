#include "tokenizer/vq_model.h"

#include <torch/torch.h>

#include <cmath>

#include "core/error.h"

namespace wm::tokenizer {

namespace {

std::string shape_text(const torch::Tensor& t) { return c10::str(t.sizes()); }

}  // namespace

VQModelImpl::VQModelImpl(TokenizerOptions options) : options_(std::move(options)) {
  options_.validate();
  encoder_ = register_module("encoder", Encoder(options_));
  quantizer_ = register_module("quantizer", VectorQuantizer(options_.vocab_size, options_.code_dim, options_.ema_decay));
  decoder_ = register_module("decoder", Decoder(options_));
  // Convolution weights channels-last too, matching the activations (see frames_to_input).
  torch::NoGradGuard no_grad;
  for (auto& p : parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

torch::Tensor VQModelImpl::frames_to_input(const torch::Tensor& frames) const {
  if (frames.scalar_type() != torch::kUInt8 || frames.dim() != 4 || frames.size(3) != 3) {
    throw core::Error("tokenizer: frames must be uint8 [B, H, W, 3], got " + std::string(c10::toString(frames.scalar_type())) +
                      " " + shape_text(frames));
  }
  if (frames.size(1) != options_.height || frames.size(2) != options_.width) {
    throw core::Error("tokenizer: frames are " + std::to_string(frames.size(1)) + "x" + std::to_string(frames.size(2)) +
                      " but this tokenizer reads " + std::to_string(options_.height) + "x" + std::to_string(options_.width) +
                      " (resize them, or train a tokenizer for that size)");
  }
  const auto device = parameters().front().device();
  // [B, H, W, 3] viewed as [B, 3, H, W] is already channels-last in memory: keep it so.
  // oneDNN's convolutions run faster on channels-last inputs on CPU, and every layer after
  // the first keeps the layout.
  return frames.to(device).permute({0, 3, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0).contiguous(at::MemoryFormat::ChannelsLast);
}

torch::Tensor VQModelImpl::output_to_frames(const torch::Tensor& x) {
  return x.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
}

void VQModelImpl::check_tokens(const torch::Tensor& tokens) const {
  if (tokens.scalar_type() != torch::kInt64 && tokens.scalar_type() != torch::kInt16 && tokens.scalar_type() != torch::kInt32) {
    throw core::Error("tokenizer: tokens must be an integer tensor, got " + std::string(c10::toString(tokens.scalar_type())));
  }
  if (tokens.numel() == 0) return;
  const int64_t low = tokens.min().item<int64_t>(), high = tokens.max().item<int64_t>();
  if (low < 0 || high >= options_.vocab_size) {
    throw core::Error("tokenizer: token id " + std::to_string(low < 0 ? low : high) + " is outside the codebook 0.." +
                      std::to_string(options_.vocab_size - 1));
  }
}

Reconstruction VQModelImpl::forward(const torch::Tensor& x) {
  const QuantizerOutput q = quantizer_(encoder_(x));
  return {decoder_(q.quantized), q.tokens, q.commitment};
}

torch::Tensor VQModelImpl::encode(const torch::Tensor& frames) {
  c10::InferenceMode inference;  // no autograd bookkeeping, no codebook update
  return quantizer_->nearest_codes(encoder_(frames_to_input(frames)));
}

torch::Tensor VQModelImpl::embed(const torch::Tensor& tokens) const {
  check_tokens(tokens);
  return quantizer_->lookup(tokens.to(torch::kInt64).to(quantizer_->codebook().device()));
}

torch::Tensor VQModelImpl::decode(const torch::Tensor& tokens) {
  c10::InferenceMode inference;
  if (tokens.dim() != 3 || tokens.size(1) != options_.grid_height() || tokens.size(2) != options_.grid_width()) {
    throw core::Error("tokenizer: tokens must be [B, " + std::to_string(options_.grid_height()) + ", " +
                      std::to_string(options_.grid_width()) + "], got " + shape_text(tokens));
  }
  const torch::Tensor codes = embed(tokens).permute({0, 3, 1, 2});  // [B, D, h, w]
  return output_to_frames(decoder_(codes));
}

core::LossTerms VQModelImpl::compute_loss(const torch::Tensor& frames) {
  const torch::Tensor x = frames_to_input(frames);
  return reconstruction_loss(x, forward(x));
}

core::LossTerms VQModelImpl::reconstruction_loss(const torch::Tensor& x, const Reconstruction& r) const {
  const torch::Tensor diff = r.frames - x;
  const torch::Tensor l1 = diff.abs().mean();
  const torch::Tensor l2 = diff.pow(2).mean();
  core::LossTerms loss;
  loss.total = l1 + l2 + options_.commitment_weight * r.commitment;
  const double mse01 = l2.item<double>() / 4.0;  // [-1, 1] -> [0, 1] scale
  // Perplexity of the batch's codes: exp(entropy); V when all codes are equally used.
  const torch::Tensor p = torch::bincount(r.tokens.flatten(), {}, options_.vocab_size).to(torch::kFloat64) / static_cast<double>(r.tokens.numel());
  const double perplexity = std::exp(-(p * torch::log(p.clamp_min(1e-12))).sum().item<double>());
  loss.logs = {{"recon_l1", l1.item<double>()},
               {"recon_l2", l2.item<double>()},
               {"commitment", r.commitment.item<double>()},
               {"psnr_db", 10.0 * std::log10(1.0 / std::max(mse01, 1e-10))},
               {"perplexity", perplexity}};
  return loss;
}

}  // namespace wm::tokenizer
