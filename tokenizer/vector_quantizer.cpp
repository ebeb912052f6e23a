#include "tokenizer/vector_quantizer.h"

#include <torch/torch.h>

#include "core/device.h"

namespace wm::tokenizer {

namespace {

torch::Tensor unit_rows(const torch::Tensor& x) { return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(-1).eps(1e-8)); }

}  // namespace

VectorQuantizerImpl::VectorQuantizerImpl(int64_t vocab_size, int64_t code_dim, double ema_decay)
    : vocab_size_(vocab_size), code_dim_(code_dim), decay_(ema_decay) {
  const torch::Tensor initial = unit_rows(torch::randn({vocab_size, code_dim}));
  codebook_ = register_buffer("codebook", initial.clone());
  ema_count_ = register_buffer("ema_count", torch::ones({vocab_size}));
  ema_sum_ = register_buffer("ema_sum", initial.clone());
  recent_counts_ = register_buffer("recent_counts", torch::zeros({vocab_size}));
}

QuantizerOutput VectorQuantizerImpl::forward(const torch::Tensor& z) {
  const auto b = z.size(0), d = z.size(1), h = z.size(2), w = z.size(3);
  // In fp32 whatever the encoder's precision (bf16 autocast): the codebook and its EMA
  // statistics are fp32 buffers, a count above 256 is not an integer in bf16, and rounded
  // similarities swap near-equal codes. z's gradient goes back in its own dtype.
  core::AutocastOff fp32(z.device());
  const torch::Tensor flat = unit_rows(z.to(torch::kFloat32).permute({0, 2, 3, 1}).reshape({-1, d}));  // [N, D]
  // Unit vectors: the nearest code is the one of highest cosine similarity.
  const torch::Tensor tokens = torch::matmul(flat.detach(), codebook_.t()).argmax(1);  // [N]
  const torch::Tensor codes = codebook_.index_select(0, tokens);                      // [N, D]

  QuantizerOutput out;
  out.commitment = (flat - codes).pow(2).sum(1).mean();
  const torch::Tensor straight_through = flat + (codes - flat).detach();
  out.quantized = straight_through.reshape({b, h, w, d}).permute({0, 3, 1, 2});
  out.tokens = tokens.reshape({b, h, w});

  if (is_training()) {
    torch::NoGradGuard no_grad;
    torch::Tensor counts = torch::bincount(tokens, /*weights=*/{}, vocab_size_).to(flat.dtype());
    torch::Tensor sums = torch::zeros({vocab_size_, d}, flat.options()).index_add_(0, tokens, flat.detach());
    if (ranks_) {
      torch::Tensor both = torch::cat({counts.unsqueeze(1), sums}, 1);  // [V, 1 + D]: one all-reduce
      ranks_->sum(both);
      counts = both.select(1, 0).contiguous();
      sums = both.narrow(1, 1, d).contiguous();
    }
    ema_update(counts, sums);
    recent_counts_.add_(counts);
    last_inputs_ = flat.detach();
  }
  return out;
}

torch::Tensor VectorQuantizerImpl::nearest_codes(const torch::Tensor& z) const {
  const auto b = z.size(0), d = z.size(1), h = z.size(2), w = z.size(3);
  // Normalizing z does not change which code has the largest dot product: skip it. fp32, as
  // in forward.
  core::AutocastOff fp32(z.device());
  const torch::Tensor flat = z.to(torch::kFloat32).permute({0, 2, 3, 1}).reshape({-1, d});
  return torch::matmul(flat, codebook_.t()).argmax(1).reshape({b, h, w});
}

void VectorQuantizerImpl::ema_update(const torch::Tensor& counts, const torch::Tensor& sums) {
  torch::NoGradGuard no_grad;
  ema_count_.mul_(decay_).add_(counts, 1.0 - decay_);
  ema_sum_.mul_(decay_).add_(sums, 1.0 - decay_);
  // In a normalized space only the direction of the running mean matters.
  codebook_.copy_(unit_rows(ema_sum_ / ema_count_.clamp_min(1e-5).unsqueeze(1)));
}

torch::Tensor VectorQuantizerImpl::lookup(const torch::Tensor& tokens) const {
  const auto shape = tokens.sizes().vec();
  auto out_shape = shape;
  out_shape.push_back(code_dim_);
  return codebook_.index_select(0, tokens.reshape({-1})).reshape(out_shape);
}

double VectorQuantizerImpl::recent_usage() const {
  return (recent_counts_ > 0).sum().item<double>() / static_cast<double>(vocab_size_);
}

int64_t VectorQuantizerImpl::restart_dead_codes(double* usage) {
  torch::NoGradGuard no_grad;
  const torch::Tensor dead = (recent_counts_ == 0).nonzero().squeeze(1);
  if (usage) *usage = 1.0 - static_cast<double>(dead.numel()) / static_cast<double>(vocab_size_);
  const int64_t n = dead.numel();
  // The counts are the same on every rank (summed in forward): so are `dead` and this branch.
  if (n > 0 && last_inputs_.defined() && last_inputs_.size(0) > 0) {
    // Each dead code becomes a (slightly perturbed) encoder output of the last batch, so it
    // sits where the data is and wins some lookups at once. Under data parallelism the batch is
    // every rank's ([ranks * N, D], in rank order: one process's batch of them all), and rank
    // 0's draw goes to all.
    const torch::Tensor candidates = ranks_ ? core::gather_rows(*ranks_, last_inputs_) : last_inputs_;  // [N', D]
    torch::Tensor fresh = torch::empty({n, code_dim_}, candidates.options());
    if (!ranks_ || ranks_->rank() == 0) {  // the others draw nothing: they receive
      const torch::Tensor pick = torch::randint(candidates.size(0), {n}, torch::TensorOptions().dtype(torch::kLong).device(candidates.device()));
      fresh = unit_rows(candidates.index_select(0, pick) + 0.01 * torch::randn({n, code_dim_}, candidates.options()));
    }
    if (ranks_) ranks_->broadcast_from_rank0({fresh});
    codebook_.index_copy_(0, dead, fresh);
    ema_sum_.index_copy_(0, dead, fresh);
    ema_count_.index_fill_(0, dead, 1.0);
  }
  recent_counts_.zero_();
  return last_inputs_.defined() ? n : 0;
}

}  // namespace wm::tokenizer
