#include "dynamics/rotary_embedding.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::dynamics {

RotaryEmbedding::RotaryEmbedding(int64_t head_dim, int64_t max_positions, double base) {
  if (head_dim % 2 != 0) throw core::Error("rotary embedding: head width " + std::to_string(head_dim) + " is odd");
  // Frequency i: base^(-2i / head_dim), one per pair of channels.
  const at::Tensor inverse = torch::pow(base, -torch::arange(0, head_dim, 2, torch::kFloat64) / static_cast<double>(head_dim));
  const at::Tensor angles = torch::outer(torch::arange(max_positions, torch::kFloat64), inverse);  // [P, D/2]
  const at::Tensor both = torch::cat({angles, angles}, 1);                                        // [P, D]
  cos_ = torch::cos(both).to(torch::kFloat32);
  sin_ = torch::sin(both).to(torch::kFloat32);
}

void RotaryEmbedding::check_range(int64_t first, int64_t count) const {
  if (first + count > cos_.size(0)) {
    throw core::Error("rotary embedding: position " + std::to_string(first + count - 1) + " is past the last of " +
                      std::to_string(cos_.size(0)));
  }
}

namespace {

// Per pair (x1, x2) of channels i and i + D/2: (x1 cos - x2 sin, x2 cos + x1 sin), written
// straight into a contiguous output (fewer passes than building rotate_half(x)).
// cos, sin: [T, D/2] in x's dtype and device.
at::Tensor rotate_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(3) / 2;
  const at::Tensor x1 = x.narrow(3, 0, half), x2 = x.narrow(3, half, half);
  return torch::cat({torch::addcmul(x1 * cos, x2, sin, /*value=*/-1), torch::addcmul(x2 * cos, x1, sin)}, 3);
}

}  // namespace

at::Tensor RotaryEmbedding::rotate(const at::Tensor& x, int64_t first) const {
  const int64_t count = x.size(2), half = x.size(3) / 2;
  check_range(first, count);
  const at::Tensor cos = cos_.narrow(0, first, count).narrow(1, 0, half).to(x.device(), x.scalar_type());  // [T, D/2]
  const at::Tensor sin = sin_.narrow(0, first, count).narrow(1, 0, half).to(x.device(), x.scalar_type());
  return rotate_pairs(x, cos, sin);
}

at::Tensor RotaryEmbedding::rotate_at(const at::Tensor& x, const at::Tensor& positions) const {
  const int64_t half = x.size(3) / 2;
  const at::Tensor rows = positions.to(torch::kCPU, torch::kInt64);
  if (rows.numel() > 0) check_range(rows.max().item<int64_t>(), 1);
  const at::Tensor cos = cos_.index_select(0, rows).narrow(1, 0, half).to(x.device(), x.scalar_type());  // [N, D/2]
  const at::Tensor sin = sin_.index_select(0, rows).narrow(1, 0, half).to(x.device(), x.scalar_type());
  return rotate_pairs(x, cos, sin);
}

}  // namespace wm::dynamics
