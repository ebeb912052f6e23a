// The precision imagination computes in. bf16 halves the KV cache (what a decoding step
// reads) and runs the matrix products on the CPU's bf16 units (AVX512-BF16 / AMX) or a GPU's
// tensor cores; the trained weights stay fp32 and a bf16 copy dreams.
#pragma once

#include <c10/core/Device.h>

#include <vector>

#include "core/device.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

// `model` itself for fp32; a copy in bf16 (same device, eval mode) for bf16, but for the
// token head, which computes fp32 logits from the bf16 hidden state.
WorldModel dream_model(const WorldModel& model, core::Precision precision);

// Next-token logits of whole windows computed the way imagination computes them, through the
// KV cache (in the model's dtype and cache layout), fed the true tokens: autoregressive, every
// position one at a time; parallel, each step's frame and action, then the next step's frame
// queries. -> fp32 [B, N, V], and bool [B, N]: the row's step is real (not padding).
struct DreamLogits {
  at::Tensor logits;
  at::Tensor real;
};
DreamLogits teacher_forced_dream_logits(WorldModel& model, const DynamicsBatch& batch);

// How far bf16 imagination is from fp32 on real rows: the share of rows whose most likely
// token is the same, and KL(fp32 || bf16) in nats per row.
struct PrecisionAgreement {
  double top1_agreement = 0;
  double kl_nats = 0;
  int64_t rows = 0;
};
PrecisionAgreement compare_dream_precision(const WorldModel& fp32_model, const std::vector<DynamicsBatch>& batches);

}  // namespace wm::dynamics
