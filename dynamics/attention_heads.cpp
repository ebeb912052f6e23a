#include "dynamics/attention_heads.h"

#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include "core/error.h"

namespace wm::dynamics {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

struct HeadShape {
  int64_t batch, steps, heads, kv_heads, head_dim;
  int64_t row_width() const { return (heads + 2 * kv_heads) * head_dim; }
  int64_t heads_of(int64_t part) const { return part == 0 ? heads : kv_heads; }
  // Where part `part`'s chunks start in a projection row, in chunks of head_dim.
  int64_t first_chunk(int64_t part) const { return part == 0 ? 0 : heads + (part - 1) * kv_heads; }
};

HeadShape shape_of(const at::Tensor& qkv, int64_t heads, int64_t kv_heads) {
  return {qkv.size(0), qkv.size(1), heads, kv_heads, qkv.size(2) / (heads + 2 * kv_heads)};
}

// Rotation tables for the rows of one call: cos/sin [T, head_dim] (both halves equal) in the
// input's dtype; undefined without rotary.
struct Angles {
  at::Tensor cos, sin;
};

Angles angles_for(const RotaryEmbedding* rotary, int64_t first, int64_t count, const at::Tensor& like) {
  if (rotary == nullptr) return {};
  // bf16 inputs rotate in fp32 (their math type): the angles are not rounded to bf16.
  const auto dtype = at::toOpMathType(like.scalar_type());
  return {rotary->cos_rows(first, count).to(dtype).contiguous(), rotary->sin_rows(first, count).to(dtype).contiguous()};
}

// Pairs (a, b) = channels (i, i + D/2). Forward rotation by +angle: (a c - b s, b c + a s);
// the backward pass applies the transpose, rotation by -angle: (a c + b s, b c - a s).
// In T's math type (fp32 for bf16), rounded once on the store.
template <typename T, typename M = at::opmath_type<T>>
inline void rotate_row(const T* in, const M* cos, const M* sin, int64_t head_dim, M sign, T* out) {
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const M a = in[i], b = in[i + half], c = cos[i], s = sign * sin[i];
    out[i] = static_cast<T>(a * c - b * s);
    out[i + half] = static_cast<T>(b * c + a * s);
  }
}

template <typename T>
inline void copy_row(const T* in, int64_t head_dim, T* out) {
  for (int64_t i = 0; i < head_dim; ++i) out[i] = in[i];
}

// Rows are (b, t) pairs; each holds 3 * heads chunks of head_dim values in the projection's
// layout. Chunk (part, h) of row (b, t) <-> heads tensor `part` at [b, h, t, :].
// to_heads: projection -> heads (forward, rotation +angle); otherwise heads -> projection
// (backward, rotation -angle).
template <typename T, typename M = at::opmath_type<T>>
void move_rows(T* projection, const std::array<T*, 3>& parts, const M* cos, const M* sin, HeadShape s, bool to_heads) {
  const int64_t rows = s.batch * s.steps, row_width = s.row_width();
  const int64_t grain = std::max<int64_t>(1, 16384 / row_width);
  const M sign = to_heads ? M(1) : M(-1);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.steps, t = row % s.steps;
      T* packed = projection + row * row_width;
      for (int64_t part = 0; part < 3; ++part) {
        const int64_t part_heads = s.heads_of(part);
        for (int64_t h = 0; h < part_heads; ++h) {
          T* chunk = packed + (s.first_chunk(part) + h) * s.head_dim;
          T* head_row = parts[part] + ((b * part_heads + h) * s.steps + t) * s.head_dim;
          const T* src = to_heads ? chunk : head_row;
          T* dst = to_heads ? head_row : chunk;
          if (part < 2 && cos != nullptr) {
            rotate_row(src, cos + t * s.head_dim, sin + t * s.head_dim, s.head_dim, sign, dst);
          } else {
            copy_row(src, s.head_dim, dst);
          }
        }
      }
    }
  });
}

// Dispatches move_rows on the dtype (float, double, bf16; checked by attention_heads_is_fused).
void move(const at::Tensor& projection, const std::array<at::Tensor, 3>& parts, const Angles& angles, HeadShape s, bool to_heads) {
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, projection.scalar_type(), "attention_heads", [&] {
    using math_t = at::opmath_type<scalar_t>;
    const math_t* cos = angles.cos.defined() ? angles.cos.const_data_ptr<math_t>() : nullptr;
    const math_t* sin = angles.sin.defined() ? angles.sin.const_data_ptr<math_t>() : nullptr;
    move_rows<scalar_t>(projection.data_ptr<scalar_t>(),
                        {parts[0].data_ptr<scalar_t>(), parts[1].data_ptr<scalar_t>(), parts[2].data_ptr<scalar_t>()}, cos, sin,
                        s, to_heads);
  });
}

std::array<at::Tensor, 3> fused_forward(const at::Tensor& qkv, const Angles& angles, HeadShape s) {
  const auto options = qkv.options();
  std::array<at::Tensor, 3> parts = {at::empty({s.batch, s.heads, s.steps, s.head_dim}, options),
                                     at::empty({s.batch, s.kv_heads, s.steps, s.head_dim}, options),
                                     at::empty({s.batch, s.kv_heads, s.steps, s.head_dim}, options)};
  move(qkv, parts, angles, s, /*to_heads=*/true);
  return parts;
}

class AttentionHeads : public torch::autograd::Function<AttentionHeads> {
 public:
  static tensor_list forward(AutogradContext* ctx, const at::Tensor& qkv, int64_t heads, int64_t kv_heads, const RotaryEmbedding* rotary,
                             int64_t first) {
    const HeadShape s = shape_of(qkv, heads, kv_heads);
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["kv_heads"] = kv_heads;
    const Angles angles = angles_for(rotary, first, s.steps, qkv);
    auto parts = fused_forward(qkv, angles, s);
    ctx->saved_data["rotary"] = angles.cos.defined();
    if (angles.cos.defined()) ctx->save_for_backward({angles.cos, angles.sin});
    return {parts[0], parts[1], parts[2]};
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    Angles angles;
    if (ctx->saved_data["rotary"].toBool()) {
      const auto saved = ctx->get_saved_variables();
      angles = {saved[0], saved[1]};
    }
    // Any of the three may be undefined when its output did not reach the loss.
    const at::Tensor& like = grads[0].defined() ? grads[0] : (grads[1].defined() ? grads[1] : grads[2]);
    const HeadShape s{like.size(0), like.size(2), ctx->saved_data["heads"].toInt(), ctx->saved_data["kv_heads"].toInt(), like.size(3)};
    std::array<at::Tensor, 3> parts;
    for (int64_t i = 0; i < 3; ++i) {
      parts[i] = grads[i].defined() ? grads[i].contiguous() : at::zeros({s.batch, s.heads_of(i), s.steps, s.head_dim}, like.options());
    }
    at::Tensor grad_qkv = at::empty({s.batch, s.steps, s.row_width()}, like.options());
    move(grad_qkv, parts, angles, s, /*to_heads=*/false);
    return {grad_qkv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool attention_heads_is_fused(const at::Tensor& qkv) {
  const auto dtype = qkv.scalar_type();
  return qkv.device().is_cpu() && (dtype == at::kFloat || dtype == at::kDouble || dtype == at::kBFloat16) && qkv.dim() == 3;
}

std::array<at::Tensor, 3> attention_heads_reference(const at::Tensor& qkv, int64_t heads, int64_t kv_heads, const RotaryEmbedding* rotary,
                                                    int64_t first) {
  const int64_t batch = qkv.size(0), count = qkv.size(1), head_dim = qkv.size(2) / (heads + 2 * kv_heads);
  // [B, T, (heads + 2 kv_heads) * head_dim] -> q [B, heads, T, head_dim], k, v [B, kv_heads, T, head_dim].
  auto part = [&](int64_t first_chunk, int64_t part_heads) {
    return qkv.narrow(2, first_chunk * head_dim, part_heads * head_dim).view({batch, count, part_heads, head_dim}).transpose(1, 2);
  };
  if (kv_heads == heads) {
    // unbind, not three narrows: its backward stacks the three gradients in one op instead of
    // zero-filling a full-size one per part.
    const auto split = qkv.view({batch, count, 3, heads, head_dim}).permute({2, 0, 3, 1, 4}).unbind(0);
    if (rotary == nullptr) return {split[0], split[1], split[2]};
    return {rotary->rotate(split[0], first), rotary->rotate(split[1], first), split[2]};
  }
  const at::Tensor q = part(0, heads), k = part(heads, kv_heads), v = part(heads + kv_heads, kv_heads);
  if (rotary == nullptr) return {q, k, v};
  return {rotary->rotate(q, first), rotary->rotate(k, first), v};
}

std::array<at::Tensor, 3> attention_heads(const at::Tensor& qkv, int64_t heads, int64_t kv_heads, const RotaryEmbedding* rotary,
                                          int64_t first) {
  if (qkv.dim() != 3 || kv_heads < 1 || heads % kv_heads != 0 || qkv.size(2) % (heads + 2 * kv_heads) != 0) {
    throw core::Error("attention heads: projection of width " + std::to_string(qkv.size(-1)) + " does not split into " +
                      std::to_string(heads) + " query heads and 2 x " + std::to_string(kv_heads) + " key/value heads");
  }
  if (!attention_heads_is_fused(qkv)) return attention_heads_reference(qkv, heads, kv_heads, rotary, first);
  if (rotary != nullptr) rotary->check_range(first, qkv.size(1));
  const at::Tensor input = qkv.contiguous();
  if (!(at::GradMode::is_enabled() && input.requires_grad())) {
    const HeadShape s = shape_of(input, heads, kv_heads);
    return fused_forward(input, angles_for(rotary, first, s.steps, input), s);
  }
  const auto parts = AttentionHeads::apply(input, heads, kv_heads, rotary, first);
  return {parts[0], parts[1], parts[2]};
}

std::array<at::Tensor, 3> attention_heads(const at::Tensor& qkv, int64_t heads, const RotaryEmbedding* rotary, int64_t first) {
  return attention_heads(qkv, heads, heads, rotary, first);
}

std::array<at::Tensor, 3> attention_heads_reference(const at::Tensor& qkv, int64_t heads, const RotaryEmbedding* rotary, int64_t first) {
  return attention_heads_reference(qkv, heads, heads, rotary, first);
}

}  // namespace wm::dynamics
