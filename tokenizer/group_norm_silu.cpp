// Compiled with -fopenmp so at::parallel_for spreads samples over torch's own OpenMP
// threads (the wheel's libgomp: one runtime, the same thread count as every ATen op).
#include "tokenizer/group_norm_silu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "tokenizer/group_norm_silu_kernel.h"

namespace wm::tokenizer {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

struct NamedKernels {
  const char* name;
  const kernels::NormKernels* table;
};

// The builds of the loops this CPU runs, fastest first.
std::vector<NamedKernels> runnable_kernels() {
  std::vector<NamedKernels> runnable;
#if defined(WM_X86_KERNELS)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    runnable.push_back({"avx512", &kernels::avx512::table});
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) runnable.push_back({"avx2", &kernels::avx2::table});
#else
  runnable.push_back({"generic", &kernels::generic::table});
#endif
  return runnable;
}

// The build in use; null: no fused path (a CPU without AVX2, or switched off).
std::atomic<const kernels::NormKernels*>& active_kernels() {
  static std::atomic<const kernels::NormKernels*> active{[] {
    const auto runnable = runnable_kernels();
    return runnable.empty() ? nullptr : runnable.front().table;
  }()};
  return active;
}

const kernels::NormKernels* norm_kernels() { return active_kernels().load(std::memory_order_relaxed); }

// Carves the kernels' work space out of `work` (4 * channels doubles).
kernels::NormScratch scratch_in(std::vector<double>& work, int64_t channels) {
  return {work.data(), work.data() + channels, work.data() + 2 * channels, work.data() + 3 * channels};
}

kernels::NormShape shape_of(const at::Tensor& x, int64_t groups) { return {x.size(2) * x.size(3), x.size(1), groups}; }

// x channels-last float [B, C, H, W] -> (y, mean [B, G], rstd [B, G]).
std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                                             int64_t groups, double eps) {
  const auto shape = shape_of(x, groups);
  const int64_t batch = x.size(0), sample = shape.rows * shape.channels;
  at::Tensor y = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  at::Tensor mean = at::empty({batch, groups}, x.options()), rstd = at::empty({batch, groups}, x.options());
  const at::Tensor gamma = weight.contiguous(), beta = bias.contiguous();
  const float *in = x.const_data_ptr<float>(), *g = gamma.const_data_ptr<float>(), *b = beta.const_data_ptr<float>();
  float *out = y.mutable_data_ptr<float>(), *m = mean.mutable_data_ptr<float>(), *r = rstd.mutable_data_ptr<float>();
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> work(4 * shape.channels);
    const kernels::NormScratch scratch = scratch_in(work, shape.channels);
    for (int64_t n = begin; n < end; ++n) {
      norm_kernels()->forward(in + n * sample, g, b, eps, shape, out + n * sample, m + n * groups, r + n * groups, scratch);
    }
  });
  return {y, mean, rstd};
}

class GroupNormSilu : public torch::autograd::Function<GroupNormSilu> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            int64_t groups, double eps) {
    auto [y, mean, rstd] = fused_forward(x, weight, bias, groups, eps);
    ctx->save_for_backward({x, weight, bias, mean, rstd});
    ctx->saved_data["groups"] = groups;
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], weight = saved[1].contiguous(), bias = saved[2].contiguous(), &mean = saved[3], &rstd = saved[4];
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const at::Tensor dy = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
    const auto shape = shape_of(x, groups);
    const int64_t batch = x.size(0), sample = shape.rows * shape.channels;
    at::Tensor dx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    // Per-sample parameter gradients in double, summed after the parallel loop.
    at::Tensor dgamma = at::empty({batch, shape.channels}, x.options().dtype(at::kDouble));
    at::Tensor dbeta = at::empty({batch, shape.channels}, x.options().dtype(at::kDouble));
    const float *in = x.const_data_ptr<float>(), *grad = dy.const_data_ptr<float>(), *g = weight.const_data_ptr<float>(),
                *b = bias.const_data_ptr<float>(), *m = mean.const_data_ptr<float>(), *r = rstd.const_data_ptr<float>();
    float* out = dx.mutable_data_ptr<float>();
    double *dg = dgamma.mutable_data_ptr<double>(), *db = dbeta.mutable_data_ptr<double>();
    at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> work(4 * shape.channels);
      const kernels::NormScratch scratch = scratch_in(work, shape.channels);
      for (int64_t n = begin; n < end; ++n) {
        norm_kernels()->backward(in + n * sample, grad + n * sample, g, b, m + n * groups, r + n * groups, shape,
                                          out + n * sample, dg + n * shape.channels, db + n * shape.channels, scratch);
      }
    });
    return {dx, dgamma.sum(0).to(at::kFloat), dbeta.sum(0).to(at::kFloat), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool group_norm_silu_is_fused(const at::Tensor& x, const at::Tensor& weight) {
  return norm_kernels() != nullptr && x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 4 &&
         x.is_contiguous(at::MemoryFormat::ChannelsLast) && weight.defined() && weight.scalar_type() == at::kFloat;
}

at::Tensor group_norm_silu_reference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t groups,
                                     double eps) {
  return at::silu(at::group_norm(x, groups, weight, bias, eps));
}

at::Tensor group_norm_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t groups, double eps) {
  if (!group_norm_silu_is_fused(x, weight) || x.size(1) % groups != 0) return group_norm_silu_reference(x, weight, bias, groups, eps);
  const bool needs_grad = at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
  if (!needs_grad) return std::get<0>(fused_forward(x, weight, bias, groups, eps));
  return GroupNormSilu::apply(x, weight, bias, groups, eps);
}

}  // namespace wm::tokenizer

namespace wm::tokenizer {

std::vector<std::string> group_norm_silu_kernels() {
  std::vector<std::string> names;
  for (const auto& k : runnable_kernels()) names.emplace_back(k.name);
  return names;
}

void use_group_norm_silu_kernel(const std::string& name) {
  if (name == "none") {
    active_kernels().store(nullptr);
    return;
  }
  for (const auto& k : runnable_kernels()) {
    if (name == k.name) {
      active_kernels().store(k.table);
      return;
    }
  }
  throw std::invalid_argument("group_norm_silu: no kernel build '" + name + "' runs on this CPU");
}

}  // namespace wm::tokenizer
