// Device and precision selection: "auto|cpu|cuda|cuda:<i>" and fp32|bf16 autocast.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace wm::core {

enum class Precision { kFp32, kBf16 };

// Empty when `spec` is a well-formed device spec, else what is wrong (for config errors).
std::string validate_device_spec(const std::string& spec);

// Resolves a spec against the GPUs visible now; "cuda:3" with one GPU is an error naming
// both. "auto" picks cuda:0 when a GPU is visible, else cpu.
c10::Device resolve_device(const std::string& spec);

int visible_gpu_count();

const char* precision_name(Precision precision);

// Whether this machine's CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16), and whether it
// has AVX512-BF16 itself (what the packed attention kernel runs on).
bool cpu_has_bf16();
bool cpu_has_avx512_bf16();

// Throws wm::core::Error when bf16 is asked for on a CPU without bf16 arithmetic of its own
// (it would be emulated, slower than fp32): one line naming `what` and the fix; never a
// silent slow path.
void check_precision_supported(c10::Device device, Precision precision, const std::string& what);

// Autocast to bf16 on `device` for the lifetime of the guard when precision is bf16; a
// no-op for fp32. Clears the autocast cache on exit (LibTorch does not do it for C++).
class AutocastGuard {
 public:
  AutocastGuard(c10::Device device, Precision precision);
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;
  ~AutocastGuard();

 private:
  bool active_ = false;
  c10::DeviceType device_type_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::BFloat16;
};

// Autocast off for `device`'s type in this scope (work that must stay fp32 inside an
// autocast region), the previous state given back after.
class AutocastOff {
 public:
  explicit AutocastOff(c10::Device device);
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;
  ~AutocastOff();

 private:
  c10::DeviceType device_type_;
  bool was_enabled_;
};

}  // namespace wm::core
