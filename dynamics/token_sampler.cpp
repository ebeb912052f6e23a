#include "dynamics/token_sampler.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <limits>

#include "core/error.h"

namespace wm::dynamics {

namespace {

// One row: the running sum in double (rows of 1024 floats lose nothing), the total first so
// that the draw is exactly proportional to the row, and the last positive entry as the
// answer when rounding leaves the target unreached.
int64_t pick(const float* row, int64_t V, double uniform) {
  double total = 0;
  for (int64_t i = 0; i < V; ++i) total += row[i];
  const double target = uniform * total;
  double running = 0;
  int64_t last_positive = 0;
  for (int64_t i = 0; i < V; ++i) {
    running += row[i];
    if (row[i] > 0) last_positive = i;
    if (running > target) return i;
  }
  return last_positive;
}

}  // namespace

at::Tensor inverse_cdf_sample(const at::Tensor& probs, const at::Tensor& uniforms) {
  if (probs.dim() != 2 || uniforms.dim() != 1 || uniforms.size(0) != probs.size(0)) {
    throw core::Error("inverse_cdf_sample: probabilities must be [N, V] and uniforms [N], got " + c10::str(probs.sizes()) + " and " +
                      c10::str(uniforms.sizes()));
  }
  if (!probs.is_cpu()) {
    // The same rule as the kernel, from ATen ops: first index whose cumulative sum exceeds
    // u * total.
    const at::Tensor cdf = probs.to(torch::kFloat64).cumsum(-1);
    const at::Tensor target = (uniforms.to(cdf.options()) * cdf.select(-1, -1)).unsqueeze(-1);
    return torch::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).squeeze(-1).clamp_max(probs.size(-1) - 1);
  }
  const at::Tensor p = probs.to(torch::kFloat32).contiguous();
  const at::Tensor u = uniforms.to(torch::kFloat64).contiguous();
  const int64_t N = p.size(0), V = p.size(1);
  at::Tensor out = torch::empty({N}, torch::kInt64);
  const float* rows = p.data_ptr<float>();
  const double* draws = u.data_ptr<double>();
  int64_t* picked = out.data_ptr<int64_t>();
  at::parallel_for(0, N, std::max<int64_t>(1, 65536 / std::max<int64_t>(V, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) picked[n] = pick(rows + n * V, V, draws[n]);
  });
  return out;
}

TokenSampler::TokenSampler(SamplingOptions options)
    : options_(options), generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)) {
  if (options_.temperature < 0) throw core::Error("sampling: temperature " + std::to_string(options_.temperature) + " is negative");
  if (options_.top_k < 0) throw core::Error("sampling: top_k " + std::to_string(options_.top_k) + " is negative");
}

void TokenSampler::reseed(uint64_t seed) {
  options_.seed = seed;
  generator_ = at::make_generator<at::CPUGeneratorImpl>(seed);
}

at::Tensor TokenSampler::sample(const at::Tensor& logits) {
  const int64_t V = logits.size(-1);
  const auto batch_shape = logits.sizes().slice(0, logits.dim() - 1);
  const at::Tensor rows = logits.reshape({-1, V});
  if (options_.temperature <= 0) return rows.argmax(-1).view(batch_shape);
  at::Tensor scaled = rows.to(torch::kFloat32) / options_.temperature;
  at::Tensor candidates;  // top-k: the vocabulary ids the k columns stand for
  if (options_.top_k > 0 && options_.top_k < V) {
    auto [values, indices] = scaled.topk(options_.top_k, -1);
    scaled = values;
    candidates = indices;
  }
  at::Tensor picked;
  if (options_.method == SamplingMethod::kMultinomial) {
    picked = torch::multinomial(torch::softmax(scaled, -1), 1, /*replacement=*/false, generator_).squeeze(-1);
  } else {
    const at::Tensor uniforms = torch::rand({rows.size(0)}, generator_, torch::TensorOptions().dtype(torch::kFloat64));
    picked = inverse_cdf_sample(torch::softmax(scaled, -1), uniforms.to(scaled.device()));
  }
  if (candidates.defined()) picked = candidates.gather(-1, picked.unsqueeze(-1)).squeeze(-1);
  return picked.view(batch_shape);
}

}  // namespace wm::dynamics
