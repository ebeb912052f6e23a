// The precision imagination computes in. bf16 halves the KV cache (what a decoding step
// reads) and runs the matrix products on the CPU's bf16 units (AVX512-BF16 / AMX) or a GPU's
// tensor cores; the trained weights stay fp32 and a bf16 copy dreams.
#pragma once

#include <c10/core/Device.h>

#include <vector>

#include "core/device.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

// Throws wm::core::Error naming the device when it has no bf16 arithmetic of its own (a CPU
// without AVX512-BF16 or AMX would emulate it, slower than fp32): never a silent slow path.
void check_dream_precision(c10::Device device, core::Precision precision);

// `model` itself for fp32; a copy in bf16 (same device, eval mode) for bf16, but for the
// token head, which computes fp32 logits from the bf16 hidden state.
WorldModel dream_model(const WorldModel& model, core::Precision precision);

// Whether this machine's CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16), and whether it
// has AVX512-BF16 itself (what the packed attention kernel runs on).
bool cpu_has_bf16();
bool cpu_has_avx512_bf16();

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
