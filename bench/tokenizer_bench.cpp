#include "bench/tokenizer_bench.h"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>

#include "bench/reference_runner.h"
#include "core/device.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "tokenizer/group_norm_silu.h"
#include "tokenizer/tokenizer_trainer.h"
#include "wm/build_config.h"

namespace wm::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Calls fn once to warm up, then repeatedly for `seconds`; returns frames/s.
template <class Fn>
double frames_per_second(Fn fn, int64_t frames_per_call, double seconds) {
  fn();
  int64_t calls = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  while ((elapsed = std::chrono::duration<double>(Clock::now() - start).count()) < seconds) {
    fn();
    ++calls;
  }
  return static_cast<double>(calls * frames_per_call) / elapsed;
}

std::string join(const std::vector<int64_t>& values) {
  std::string out;
  for (auto v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

// Runs the PyTorch reference and returns its JSON line.
nlohmann::json run_reference(const tokenizer::TokenizerOptions& o, const TokenizerBenchOptions& options, int threads) {
  return run_python_reference("tokenizer_reference.py",
                              "--batch " + std::to_string(options.batch) + " --threads " + std::to_string(threads) + " --seconds " +
                                  std::to_string(options.seconds) + " --height " + std::to_string(o.height) + " --width " +
                                  std::to_string(o.width) + " --base " + std::to_string(o.base_channels) + " --mult " +
                                  join(o.channel_mult) + " --res-blocks " + std::to_string(o.res_blocks) + " --vocab " +
                                  std::to_string(o.vocab_size) + " --code-dim " + std::to_string(o.code_dim) + " --precision " +
                                  options.precision);
}

}  // namespace

std::vector<BenchRecord> run_tokenizer_bench(const TokenizerBenchOptions& options) {
  const core::Precision precision = options.precision == "bf16" ? core::Precision::kBf16 : core::Precision::kFp32;
  const c10::Device cpu(c10::kCPU);
  core::check_precision_supported(cpu, precision, "wm bench tokenizer");
  const int threads = core::configure_threads(options.threads, 1);
  const auto kernels = tokenizer::group_norm_silu_kernels();
  const std::string norm_kernel = options.norm_kernel != "best" ? options.norm_kernel : (kernels.empty() ? "none" : kernels.front());
  try {
    tokenizer::use_group_norm_silu_kernel(norm_kernel);
  } catch (const std::invalid_argument& e) {
    throw core::Error(std::string("--norm-kernel: ") + e.what());
  }
  torch::manual_seed(0);
  const tokenizer::TokenizerOptions model_options;  // the default: 64x64 -> 8x8 of 1024
  tokenizer::TokenizerTrainOptions train_options;
  train_options.batch_size = options.batch;
  const torch::Tensor frames = torch::randint(0, 256, {options.batch, model_options.height, model_options.width, 3}).to(torch::kUInt8);
  // Training and encoding frames/s at precision `at`, each from the same initial weights.
  auto measure = [&](core::Precision at) {
    torch::manual_seed(0);
    tokenizer::TokenizerTrainer trainer(tokenizer::VQModel(model_options), train_options, cpu, at);
    const double train = frames_per_second([&] { trainer.train_step(frames); }, options.batch, options.seconds);
    const double encode = frames_per_second(
        [&] {
          core::AutocastGuard autocast(cpu, at);
          trainer.model()->encode(frames);
        },
        options.batch, options.seconds);
    return std::pair{train, encode};
  };
  const auto [train, encode] = measure(precision);
  std::pair<double, double> fp32{0, 0};
  if (precision != core::Precision::kFp32) fp32 = measure(core::Precision::kFp32);

  nlohmann::json reference;
  if (options.reference) reference = run_reference(model_options, options, threads);

  const nlohmann::ordered_json context = {{"batch", options.batch}, {"threads", threads}, {"device", "cpu"},
                                          {"frame", "64x64"}, {"tokens", "8x8"}, {"vocab", model_options.vocab_size},
                                          {"norm_kernel", norm_kernel}, {"precision", core::precision_name(precision)}};
  std::vector<BenchRecord> records;
  for (auto [metric, value, fp32_value] : {std::tuple{"train_frames_per_s", train, fp32.first},
                                           std::tuple{"encode_frames_per_s", encode, fp32.second}}) {
    BenchRecord r;
    r.bench = "tokenizer";
    r.metric = metric;
    r.value = value;
    if (options.reference) {
      r.baseline = "pytorch";
      r.baseline_value = reference.at(metric).get<double>();
    }
    r.context = context;
    if (precision != core::Precision::kFp32) {
      r.context["fp32_" + std::string(metric)] = fp32_value;
      r.context["speedup_over_fp32"] = value / fp32_value;
    }
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace wm::bench
