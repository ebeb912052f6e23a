// Nearest-code lookup in an l2-normalized space (cosine similarity, as improved VQGAN and
// Δ-IRIS do), with an EMA-updated codebook, restarts of dead codes from recent encoder
// outputs, a commitment loss and the straight-through gradient.
#pragma once

#include <torch/nn/module.h>

#include <memory>

#include "core/ranks.h"

#include "tokenizer/tokenizer_options.h"

namespace wm::tokenizer {

struct QuantizerOutput {
  torch::Tensor quantized;   // [B, D, h, w]: code vectors, with the straight-through gradient to z
  torch::Tensor tokens;      // int64 [B, h, w]
  torch::Tensor commitment;  // scalar: mean ||normalize(z) - sg(code)||^2
};

class VectorQuantizerImpl : public torch::nn::Module {
 public:
  VectorQuantizerImpl(int64_t vocab_size, int64_t code_dim, double ema_decay);

  // z: [B, D, h, w] from the encoder. In training mode the codebook follows the batch (EMA).
  QuantizerOutput forward(const torch::Tensor& z);
  // Only the nearest codes of z [B, D, h, w] -> int64 [B, h, w]: what encoding needs.
  torch::Tensor nearest_codes(const torch::Tensor& z) const;
  // Code vectors of `tokens` (int64 [...]) -> [..., D].
  torch::Tensor lookup(const torch::Tensor& tokens) const;

  // Replaces codes unused since the last call with encoder outputs of the latest batch;
  // returns how many were restarted. `usage` is the share of codes used in that span.
  int64_t restart_dead_codes(double* usage);

  // Data parallelism: from now on each batch's statistics are summed over `ranks` before the
  // EMA update (the update of one process seeing every rank's batch), and restarts draw from
  // every rank's latest encoder outputs on rank 0, which sends the new vectors to all: every
  // rank keeps the same codebook.
  void share_across(std::shared_ptr<core::Ranks> ranks) { ranks_ = std::move(ranks); }

  const torch::Tensor& codebook() const { return codebook_; }
  // Usage counts since the last restart check, and the latest normalized encoder outputs.
  const torch::Tensor& recent_counts() const { return recent_counts_; }
  // The share of codes used since the last restart check.
  double recent_usage() const;
  int64_t vocab_size() const { return vocab_size_; }

  // One EMA step with given batch statistics: public for tests.
  void ema_update(const torch::Tensor& counts, const torch::Tensor& sums);

 private:
  int64_t vocab_size_, code_dim_;
  double decay_;
  torch::Tensor codebook_;       // [V, D], unit rows
  torch::Tensor ema_count_;      // [V]
  torch::Tensor ema_sum_;        // [V, D]
  torch::Tensor recent_counts_;  // [V]
  torch::Tensor last_inputs_;    // [N, D] normalized encoder outputs of the last training batch
  std::shared_ptr<core::Ranks> ranks_;  // none: one process
};
TORCH_MODULE(VectorQuantizer);

}  // namespace wm::tokenizer
