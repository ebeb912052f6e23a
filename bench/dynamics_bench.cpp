#include "bench/dynamics_bench.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>

#include "bench/gemm_bench.h"
#include "bench/reference_runner.h"
#include "core/device.h"
#include "core/run_dir.h"
#include "dynamics/dynamics_trainer.h"

namespace wm::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct ModelSize {
  const char* name;
  dynamics::DynamicsOptions options;
  int64_t batch;
};

dynamics::DynamicsOptions model_options(int64_t layers, int64_t width, int64_t heads, int64_t context, int64_t tokens, int64_t vocab) {
  dynamics::DynamicsOptions o;
  o.layers = layers;
  o.width = width;
  o.heads = heads;
  o.context_steps = context;
  o.tokens_per_frame = tokens;
  o.vocab_size = vocab;
  o.num_actions = 9;
  o.dropout = 0.0;  // the reference has none: same arithmetic on both sides
  return o;
}

std::string reference_arguments(const dynamics::DynamicsOptions& o, int threads) {
  return "--layers " + std::to_string(o.layers) + " --width " + std::to_string(o.width) + " --heads " + std::to_string(o.heads) +
         " --context " + std::to_string(o.context_steps) + " --tokens " + std::to_string(o.tokens_per_frame) + " --vocab " +
         std::to_string(o.vocab_size) + " --actions " + std::to_string(o.num_actions) + " --threads " + std::to_string(threads) +
         " --rotary " + std::to_string(o.rotary ? 1 : 0);
}

// Matmul and attention flops of one training step (forward + backward = 3x forward).
double train_flops(const dynamics::DynamicsOptions& o, int64_t batch) {
  const double T = static_cast<double>(o.max_positions()), C = static_cast<double>(o.width), B = static_cast<double>(batch);
  const double per_token = 2.0 * (12.0 * C * C * static_cast<double>(o.layers) + C * static_cast<double>(o.vocab_size));
  const double attention = 2.0 * T * T * C * static_cast<double>(o.layers);  // causal: QK^T and AV over half the pairs
  return 3.0 * B * (T * per_token + attention);
}

dynamics::DynamicsBatch random_batch(const dynamics::DynamicsOptions& o, int64_t batch) {
  const int64_t L = o.context_steps;
  return {torch::randint(0, o.vocab_size, {batch, L, o.tokens_per_frame}, torch::kInt64),
          torch::randint(0, o.num_actions, {batch, L}, torch::kInt64), torch::randint(-1, 2, {batch, L}).to(torch::kFloat32),
          torch::zeros({batch, L}, torch::kUInt8), torch::ones({batch, L}, torch::kBool)};
}

}  // namespace

std::vector<BenchRecord> run_dynamics_bench(const DynamicsBenchOptions& options) {
  const core::Precision precision = options.precision == "bf16" ? core::Precision::kBf16 : core::Precision::kFp32;
  core::check_precision_supported(c10::Device(c10::kCPU), precision, "wm bench dynamics");
  const int threads = core::configure_threads(options.threads, 1);
  const double ceiling = run_gemm_bench(c10::Device(c10::kCPU), torch::kFloat32, 1024, 0.5).gflops;
  std::vector<ModelSize> sizes;
  if (!options.small_only) sizes.push_back({"iris", model_options(10, 256, 4, 20, 64, 1024), 8});
  sizes.push_back({"small", model_options(4, 128, 4, 10, 16, 512), 16});

  std::vector<BenchRecord> records;
  for (const auto& size : sizes) {
    const auto& o = size.options;
    // Minutes at IRIS's size on 2 cores: say what runs, on stderr (stdout is the JSON).
    spdlog::info("bench dynamics: {} model ({} layers x {}), batch {}: {} training steps in wm{}", size.name, o.layers, o.width, size.batch,
                 options.train_steps, options.reference ? ", then the same in the PyTorch twin" : "");
    const dynamics::DynamicsBatch batch = random_batch(o, size.batch);
    // Tokens/s of `train_steps` optimizer steps after one warm-up, at precision `at`.
    auto tokens_per_s_at = [&](core::Precision at) {
      torch::manual_seed(0);
      dynamics::DynamicsTrainOptions train;
      train.batch_size = size.batch;
      train.warmup_steps = 1;
      dynamics::DynamicsTrainer trainer(dynamics::WorldModel(o), train, c10::Device(c10::kCPU), at);
      trainer.train_step(batch);  // warm-up
      const auto start = Clock::now();
      for (int64_t s = 0; s < options.train_steps; ++s) trainer.train_step(batch);
      return static_cast<double>(options.train_steps * size.batch * o.max_positions()) / seconds_since(start);
    };
    const double tokens_per_s = tokens_per_s_at(precision);
    const double seconds = static_cast<double>(options.train_steps * size.batch * o.max_positions()) / tokens_per_s;
    const double gflops = train_flops(o, size.batch) * static_cast<double>(options.train_steps) / seconds / 1e9;

    BenchRecord r;
    r.bench = "dynamics";
    r.metric = "train_tokens_per_s";
    r.value = tokens_per_s;
    r.context = {{"size", size.name}, {"layers", o.layers}, {"width", o.width}, {"heads", o.heads}, {"context_steps", o.context_steps},
                 {"tokens_per_frame", o.tokens_per_frame}, {"positions", o.max_positions()}, {"batch", size.batch},
                 {"threads", threads}, {"device", "cpu"}, {"gflops", gflops}, {"gemm_ceiling_gflops", ceiling},
                 {"efficiency", gflops / ceiling}, {"precision", core::precision_name(precision)}};
    if (precision != core::Precision::kFp32) {
      const double fp32 = tokens_per_s_at(core::Precision::kFp32);
      r.context["fp32_tokens_per_s"] = fp32;
      r.context["speedup_over_fp32"] = tokens_per_s / fp32;
    }
    if (options.reference) {
      const auto reference = run_python_reference(
          "dynamics_reference.py", "train " + reference_arguments(o, threads) + " --batch " + std::to_string(size.batch) + " --steps " +
                                       std::to_string(options.train_steps) + " --precision " + core::precision_name(precision));
      r.baseline = "pytorch";
      r.baseline_value = reference.at("train_tokens_per_s").get<double>();
    }
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace wm::bench
