// silu(group_norm(x)) as one op: every residual block of the tokenizer applies this pair
// twice. Fused on CPU for float32 channels-last inputs (one read of x and one write of y in
// the forward pass instead of two of each, and no normalized copy kept for backward);
// anything else (CUDA, bf16 autocast, other layouts) takes the two ATen ops.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace wm::tokenizer {

// x [B, C, H, W]; weight, bias [C]; C divisible by groups. Differentiable in x, weight, bias.
at::Tensor group_norm_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t groups, double eps);

// The unfused composite, for tests and the fallback.
at::Tensor group_norm_silu_reference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t groups,
                                     double eps);

// The kernel builds this CPU runs, fastest first (x86-64: "avx512", "avx2"); the first is
// used. use_group_norm_silu_kernel picks another, or "none" for the unfused ops (tests and
// benchmarks compare them).
std::vector<std::string> group_norm_silu_kernels();
void use_group_norm_silu_kernel(const std::string& name);

// Whether group_norm_silu takes the fused path for these arguments.
bool group_norm_silu_is_fused(const at::Tensor& x, const at::Tensor& weight);

}  // namespace wm::tokenizer
