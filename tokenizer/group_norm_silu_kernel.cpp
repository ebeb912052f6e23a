// Compiled once per instruction set (tokenizer/CMakeLists.txt: WM_KERNEL_ISA names the
// namespace, the flags pick AVX2 or AVX-512): every inner loop runs over the C contiguous
// channels of one position and vectorizes. No C++ library headers here (see the header).
#include "tokenizer/group_norm_silu_kernel.h"

namespace wm::tokenizer::kernels::WM_KERNEL_ISA {

namespace {

// Rows summed in float before folding into the double totals: short float runs keep the
// loops vectorized, the double totals keep E[x^2] - E[x]^2 accurate over 4096 positions.
constexpr int64_t kBlockRows = 64;

// e^x to ~2e-7 relative error, written so the compiler vectorizes it: x = n ln2 + f ln2
// with |f| <= 1/2, 2^f from its degree-6 Taylor polynomial, 2^n put into the exponent bits.
inline float fast_exp(float x) {
  x = x < 88.0f ? x : 88.0f;
  x = x > -87.0f ? x : -87.0f;
  const float t = x * 1.44269504088896341f;
  const float n = __builtin_floorf(t + 0.5f);
  const float f = (t - n) * 0.693147180559945309f;
  float p = 1.0f / 720.0f;
  p = p * f + 1.0f / 120.0f;
  p = p * f + 1.0f / 24.0f;
  p = p * f + 1.0f / 6.0f;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const int bits = (static_cast<int>(n) + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
}

inline float sigmoid(float z) { return 1.0f / (1.0f + fast_exp(-z)); }

// Per-channel sums of a(row, c) and b(row, c) over all rows, in double.
template <class A, class B>
void channel_sums(int64_t rows, int64_t channels, A a, B b, double* sum_a, double* sum_b) {
  for (int64_t c = 0; c < channels; ++c) sum_a[c] = sum_b[c] = 0.0;
  float block_a[1024], block_b[1024];
  for (int64_t c0 = 0; c0 < channels; c0 += 1024) {
    const int64_t width = channels - c0 < 1024 ? channels - c0 : 1024;
    for (int64_t r0 = 0; r0 < rows; r0 += kBlockRows) {
      for (int64_t c = 0; c < width; ++c) block_a[c] = block_b[c] = 0.0f;
      const int64_t r1 = r0 + kBlockRows < rows ? r0 + kBlockRows : rows;
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = 0; c < width; ++c) {
          block_a[c] += a(r, c0 + c);
          block_b[c] += b(r, c0 + c);
        }
      }
      for (int64_t c = 0; c < width; ++c) {
        sum_a[c0 + c] += block_a[c];
        sum_b[c0 + c] += block_b[c];
      }
    }
  }
}

void forward(const float* x, const float* gamma, const float* beta, double eps, NormShape shape, float* y, float* mean,
             float* rstd, NormScratch s) {
  const int64_t rows = shape.rows, channels = shape.channels, per_group = channels / shape.groups;
  channel_sums(rows, channels, [&](int64_t r, int64_t c) { return x[r * channels + c]; },
               [&](int64_t r, int64_t c) { return x[r * channels + c] * x[r * channels + c]; }, s.sums, s.sums2);

  // Group statistics -> per-channel affine map: silu(x * scale[c] + shift[c]).
  const double count = static_cast<double>(rows * per_group);
  for (int64_t g = 0; g < shape.groups; ++g) {
    double sum = 0, sum2 = 0;
    for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
      sum += s.sums[c];
      sum2 += s.sums2[c];
    }
    const double mu = sum / count;
    const double var = sum2 / count - mu * mu;
    const double inv = 1.0 / __builtin_sqrt((var > 0 ? var : 0) + eps);
    mean[g] = static_cast<float>(mu);
    rstd[g] = static_cast<float>(inv);
    for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
      s.scale[c] = inv * gamma[c];
      s.shift[c] = beta[c] - mu * inv * gamma[c];
    }
  }
  float scale[1024], shift[1024];
  for (int64_t c0 = 0; c0 < channels; c0 += 1024) {
    const int64_t width = channels - c0 < 1024 ? channels - c0 : 1024;
    for (int64_t c = 0; c < width; ++c) {
      scale[c] = static_cast<float>(s.scale[c0 + c]);
      shift[c] = static_cast<float>(s.shift[c0 + c]);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = x + r * channels + c0;
      float* out = y + r * channels + c0;
      for (int64_t c = 0; c < width; ++c) {
        const float z = in[c] * scale[c] + shift[c];
        out[c] = z * sigmoid(z);
      }
    }
  }
}

void backward(const float* x, const float* dy, const float* gamma, const float* beta, const float* mean, const float* rstd,
              NormShape shape, float* dx, double* dgamma, double* dbeta, NormScratch s) {
  const int64_t rows = shape.rows, channels = shape.channels, per_group = channels / shape.groups;
  float scale[1024], shift[1024];
  // Pass 1: dz = dL/d(norm output) = dy * silu'(z), kept in dx; per-channel sums of dz and
  // dz * x.
  for (int64_t c0 = 0; c0 < channels; c0 += 1024) {
    const int64_t width = channels - c0 < 1024 ? channels - c0 : 1024;
    for (int64_t c = 0; c < width; ++c) {
      const int64_t g = (c0 + c) / per_group;
      scale[c] = rstd[g] * gamma[c0 + c];
      shift[c] = beta[c0 + c] - mean[g] * scale[c];
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = x + r * channels + c0;
      const float* grad = dy + r * channels + c0;
      float* out = dx + r * channels + c0;
      for (int64_t c = 0; c < width; ++c) {
        const float z = in[c] * scale[c] + shift[c];
        const float sg = sigmoid(z);
        out[c] = grad[c] * sg * (1.0f + z * (1.0f - sg));
      }
    }
  }
  channel_sums(rows, channels, [&](int64_t r, int64_t c) { return dx[r * channels + c]; },
               [&](int64_t r, int64_t c) { return dx[r * channels + c] * x[r * channels + c]; }, s.sums, s.sums2);

  // With xhat = (x - mu) * rstd and dxhat = gamma * dz:
  //   dx = rstd * (dxhat - mean_g(dxhat) - xhat * mean_g(dxhat * xhat))
  //      = (rstd * gamma) * dz + q_g * x + r_g
  const double count = static_cast<double>(rows * per_group);
  for (int64_t g = 0; g < shape.groups; ++g) {
    const double mu = mean[g], inv = rstd[g];
    double m1 = 0, m2 = 0;
    for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
      const double dz_xhat = (s.sums2[c] - mu * s.sums[c]) * inv;  // sum over rows of dz * xhat
      dgamma[c] = dz_xhat;
      dbeta[c] = s.sums[c];
      m1 += gamma[c] * s.sums[c];
      m2 += gamma[c] * dz_xhat;
    }
    m1 /= count;
    m2 /= count;
    for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) {
      s.scale[c] = inv * gamma[c];                       // multiplies dz
      s.shift[c] = -inv * inv * m2;                      // multiplies x
      s.sums[c] = -inv * m1 + mu * inv * inv * m2;       // constant
    }
  }
  float bias[1024];
  for (int64_t c0 = 0; c0 < channels; c0 += 1024) {
    const int64_t width = channels - c0 < 1024 ? channels - c0 : 1024;
    for (int64_t c = 0; c < width; ++c) {
      scale[c] = static_cast<float>(s.scale[c0 + c]);
      shift[c] = static_cast<float>(s.shift[c0 + c]);
      bias[c] = static_cast<float>(s.sums[c0 + c]);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* in = x + r * channels + c0;
      float* out = dx + r * channels + c0;
      for (int64_t c = 0; c < width; ++c) out[c] = scale[c] * out[c] + shift[c] * in[c] + bias[c];
    }
  }
}

}  // namespace

extern const NormKernels table{&forward, &backward};

}  // namespace wm::tokenizer::kernels::WM_KERNEL_ISA
