#include "core/device.h"

#include <ATen/autocast_mode.h>
#include <ATen/cpu/Utils.h>
#include <torch/cuda.h>

#include <charconv>

#include "core/error.h"

namespace wm::core {

namespace {

// Parses "cuda:<i>"; returns -1 for "cuda" (no index), -2 when malformed.
int parse_cuda_index(const std::string& spec) {
  if (spec == "cuda") return -1;
  if (!spec.starts_with("cuda:") || spec.size() == 5) return -2;
  int index = 0;
  const char* begin = spec.data() + 5;
  const char* end = spec.data() + spec.size();
  auto [ptr, ec] = std::from_chars(begin, end, index);
  return (ec == std::errc() && ptr == end && index >= 0) ? index : -2;
}

}  // namespace

std::string validate_device_spec(const std::string& spec) {
  if (spec == "auto" || spec == "cpu" || parse_cuda_index(spec) != -2) return "";
  return "one of auto|cpu|cuda|cuda:<index>";
}

int visible_gpu_count() { return static_cast<int>(torch::cuda::device_count()); }

c10::Device resolve_device(const std::string& spec) {
  if (!validate_device_spec(spec).empty()) {
    throw Error("device '" + spec + "' is not one of auto|cpu|cuda|cuda:<index>");
  }
  const int gpus = visible_gpu_count();
  if (spec == "cpu" || (spec == "auto" && gpus == 0)) return c10::Device(c10::DeviceType::CPU);
  if (spec == "auto") return c10::Device(c10::DeviceType::CUDA, 0);
  int index = std::max(parse_cuda_index(spec), 0);
  if (gpus == 0) {
    throw Error("device '" + spec + "' requested but no CUDA GPU is visible; use run.device=cpu");
  }
  if (index >= gpus) {
    throw Error("device '" + spec + "' requested but only " + std::to_string(gpus) +
                " GPU(s) are visible (cuda:0..cuda:" + std::to_string(gpus - 1) + ")");
  }
  return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index));
}

namespace {

bool cpu_has(const char* name) {
  const auto capabilities = at::cpu::get_cpu_capabilities();
  const auto it = capabilities.find(name);
  return it != capabilities.end() && it->second.isBool() && it->second.toBool();
}

}  // namespace

bool cpu_has_bf16() { return cpu_has("avx512_bf16") || cpu_has("amx_bf16"); }
bool cpu_has_avx512_bf16() { return cpu_has("avx512_bf16") && cpu_has("avx512_bw") && cpu_has("avx512_vl") && cpu_has("avx512_dq"); }

void check_precision_supported(c10::Device device, Precision precision, const std::string& what) {
  if (precision != Precision::kBf16 || !device.is_cpu() || cpu_has_bf16()) return;
  throw Error(what + ": precision bf16 on this CPU, which has neither AVX512-BF16 nor AMX-BF16, would be emulated and slower than fp32; "
              "set run.precision=fp32 here");
}

const char* precision_name(Precision precision) {
  return precision == Precision::kBf16 ? "bf16" : "fp32";
}

AutocastGuard::AutocastGuard(c10::Device device, Precision precision)
    : active_(precision == Precision::kBf16), device_type_(device.type()) {
  if (!active_) return;
  was_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_dtype(device_type_, c10::ScalarType::BFloat16);
  at::autocast::set_autocast_enabled(device_type_, true);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Cached casts of weights are only valid inside the region that made them.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_type_, was_enabled_);
  at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
}

AutocastOff::AutocastOff(c10::Device device)
    : device_type_(device.type()), was_enabled_(at::autocast::is_autocast_enabled(device_type_)) {
  at::autocast::set_autocast_enabled(device_type_, false);
}

AutocastOff::~AutocastOff() { at::autocast::set_autocast_enabled(device_type_, was_enabled_); }

}  // namespace wm::core
