#include "dynamics/dream_precision.h"

#include <ATen/cpu/Utils.h>
#include <torch/torch.h>

#include "core/error.h"

namespace wm::dynamics {

namespace {

bool cpu_has(const char* name) {
  const auto capabilities = at::cpu::get_cpu_capabilities();
  const auto it = capabilities.find(name);
  return it != capabilities.end() && it->second.isBool() && it->second.toBool();
}

}  // namespace

bool cpu_has_bf16() { return cpu_has("avx512_bf16") || cpu_has("amx_bf16"); }
bool cpu_has_avx512_bf16() { return cpu_has("avx512_bf16") && cpu_has("avx512_bw") && cpu_has("avx512_vl") && cpu_has("avx512_dq"); }

void check_dream_precision(c10::Device device, core::Precision precision) {
  if (precision != core::Precision::kBf16 || !device.is_cpu() || cpu_has_bf16()) return;
  throw core::Error("precision bf16: this CPU has neither AVX512-BF16 nor AMX-BF16, so bf16 would be emulated and slower than fp32; "
                    "use precision fp32 here");
}

WorldModel dream_model(const WorldModel& model, core::Precision precision) {
  if (precision == core::Precision::kFp32) return model;
  const torch::Tensor any = model->parameters().front();
  WorldModel copy(model->options());
  {
    torch::NoGradGuard no_grad;
    auto source = model->named_parameters();
    for (auto& item : copy->named_parameters()) item.value().copy_(source[item.key()]);
  }
  copy->to(any.device(), torch::kBFloat16);
  copy->eval();
  return copy;
}

}  // namespace wm::dynamics
