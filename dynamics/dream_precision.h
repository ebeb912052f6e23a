// The precision imagination computes in. bf16 halves the KV cache (what a decoding step
// reads) and runs the matrix products on the CPU's bf16 units (AVX512-BF16 / AMX) or a GPU's
// tensor cores; the trained weights stay fp32 and a bf16 copy dreams.
#pragma once

#include <c10/core/Device.h>

#include "core/device.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

// Throws wm::core::Error naming the device when it has no bf16 arithmetic of its own (a CPU
// without AVX512-BF16 or AMX would emulate it, slower than fp32): never a silent slow path.
void check_dream_precision(c10::Device device, core::Precision precision);

// `model` itself for fp32; a copy in bf16 (same device, eval mode) for bf16.
WorldModel dream_model(const WorldModel& model, core::Precision precision);

// Whether this machine's CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16), and whether it
// has AVX512-BF16 itself (what the packed attention kernel runs on).
bool cpu_has_bf16();
bool cpu_has_avx512_bf16();

}  // namespace wm::dynamics
