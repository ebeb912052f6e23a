// The fused GroupNorm + SiLU loops on one sample in channels-last layout (rows = H*W
// positions of `channels` contiguous floats). Plain pointers only: this file's .cpp is
// compiled with AVX2/FMA flags, and including any header with inline C++ (std::vector,
// c10, ...) there could leak AVX2 copies of shared inline functions into the rest of the
// program; callers pick the table their CPU runs (group_norm_silu.cpp).
#pragma once

#include <cstdint>

namespace wm::tokenizer::kernels {

struct NormShape {
  int64_t rows;      // H * W
  int64_t channels;  // C, contiguous per row
  int64_t groups;    // G, C % G == 0
};

// Per-call work space: 4 * channels doubles.
struct NormScratch {
  double* sums;      // [C]
  double* sums2;     // [C]
  double* scale;     // [C]
  double* shift;     // [C]
};

// The loops, one build per instruction set (tokenizer/CMakeLists.txt compiles
// group_norm_silu_kernel.cpp once per ISA, each into its own namespace).
struct NormKernels {
  // y = silu(gamma * (x - mean_g) * rstd_g + beta); writes mean and rstd [G] for backward.
  void (*forward)(const float* x, const float* gamma, const float* beta, double eps, NormShape shape, float* y, float* mean,
                  float* rstd, NormScratch scratch);
  // Gradients from dy = dL/dy: dx [rows, C] (dx doubles as temporary storage), and this
  // sample's contributions to dgamma and dbeta [C] (the caller sums them over samples).
  void (*backward)(const float* x, const float* dy, const float* gamma, const float* beta, const float* mean, const float* rstd,
                   NormShape shape, float* dx, double* dgamma, double* dbeta, NormScratch scratch);
};

#if defined(WM_X86_KERNELS)
namespace avx2 {
extern const NormKernels table;  // AVX2 + FMA
}
namespace avx512 {
extern const NormKernels table;  // AVX-512 F/VL/DQ, 512-bit vectors
}
#else
namespace generic {
extern const NormKernels table;  // whatever the compiler targets by default
}
#endif

}  // namespace wm::tokenizer::kernels
