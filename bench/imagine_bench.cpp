#include "bench/imagine_bench.h"

#include <sys/resource.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <optional>

#include "bench/gemm_bench.h"
#include "bench/memory_bench.h"
#include "bench/reference_runner.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "dynamics/dream_precision.h"
#include "dynamics/imagination.h"

namespace wm::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double peak_rss_mb() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

struct Size {
  dynamics::DynamicsOptions model;
  int64_t batch;
};

Size size_of(const ImagineBenchOptions& b) {
  Size s;
  auto& o = s.model;
  if (b.size == "iris") {
    o.layers = 10, o.width = 256, o.heads = 4, o.context_steps = 20, s.batch = 32;
  } else if (b.size == "demo") {
    o.layers = 4, o.width = 128, o.heads = 4, o.context_steps = 10, s.batch = 64;
  } else {
    throw core::Error("bench imagine: --size '" + b.size + "' is not one of demo|iris (custom sizes: --layers, --width, --heads, --context)");
  }
  if (b.decoding != "ar" && b.decoding != "parallel") throw core::Error("bench imagine: --decoding '" + b.decoding + "' is not one of ar|parallel");
  if (b.precision != "fp32" && b.precision != "bf16") throw core::Error("bench imagine: --precision '" + b.precision + "' is not one of fp32|bf16");
  if (b.sampler != "inverse_cdf" && b.sampler != "multinomial") {
    throw core::Error("bench imagine: --sampler '" + b.sampler + "' is not one of inverse_cdf|multinomial");
  }
  if (b.cache != "auto" && b.cache != "head_major" && b.cache != "packed_bf16") {
    throw core::Error("bench imagine: --cache '" + b.cache + "' is not one of auto|head_major|packed_bf16");
  }
  if (b.cache == "packed_bf16" && b.precision != "bf16") throw core::Error("bench imagine: --cache packed_bf16 needs --precision bf16");
  if (b.layers > 0) o.layers = b.layers;
  if (b.width > 0) o.width = b.width;
  if (b.heads > 0) o.heads = b.heads;
  if (b.context_steps > 0) o.context_steps = b.context_steps;
  o.kv_heads = b.kv_heads;
  if (b.batch > 0) s.batch = b.batch;
  o.tokens_per_frame = 64;
  o.vocab_size = 1024;
  o.num_actions = 9;
  o.dropout = 0.0;
  o.decoding = b.decoding == "parallel" ? dynamics::Decoding::kParallel : dynamics::Decoding::kAutoregressive;
  o.validate();
  if (b.recompute_horizon > 0 && (b.decoding != "ar" || b.recompute_horizon > std::min(b.horizon, o.context_steps - 1))) {
    throw core::Error("bench imagine: --recompute-horizon " + std::to_string(b.recompute_horizon) + " needs --decoding ar and at most " +
                      std::to_string(std::min(b.horizon, o.context_steps - 1)) + " steps (the horizon, and the context less one: it never rebuilds)");
  }
  return s;
}

std::string twin_arguments(const dynamics::DynamicsOptions& o, int threads, int64_t batch, int64_t horizon) {
  return "imagine --layers " + std::to_string(o.layers) + " --width " + std::to_string(o.width) + " --heads " + std::to_string(o.heads) +
         " --context " + std::to_string(o.context_steps) + " --tokens " + std::to_string(o.tokens_per_frame) + " --vocab " +
         std::to_string(o.vocab_size) + " --actions " + std::to_string(o.num_actions) + " --threads " + std::to_string(threads) +
         " --rotary " + std::to_string(o.rotary ? 1 : 0) + " --kv-heads " + std::to_string(o.kv_heads) + " --batch " + std::to_string(batch) +
         " --horizon " + std::to_string(horizon);
}

// Imagination without a cache: every token runs the model over the whole window so far.
void imagine_by_recompute(dynamics::WorldModel& model, const torch::Tensor& context, const torch::Tensor& actions, int64_t horizon) {
  c10::InferenceMode inference;
  const auto& o = model->options();
  torch::Tensor frames = context;  // [B, S, K]
  for (int64_t step = 0; step < horizon; ++step) {
    const int64_t S = frames.size(1);
    torch::Tensor sequence = model->embed_steps(frames, actions.narrow(1, 0, S), 0);  // [B, S*(K+1), C]: ends with this step's action
    std::vector<torch::Tensor> tokens;
    for (int64_t j = 0; j < o.tokens_per_frame; ++j) {
      const torch::Tensor hidden = model->transform(sequence).select(1, -1);
      const torch::Tensor token = torch::multinomial(torch::softmax(model->token_logits(hidden), -1), 1).squeeze(-1);
      tokens.push_back(token);
      sequence = torch::cat({sequence, model->embed_tokens(token.unsqueeze(1), j, S)}, 1);
    }
    frames = torch::cat({frames, torch::stack(tokens, 1).unsqueeze(1)}, 1);
  }
}

}  // namespace

DreamCost dream_cost(const dynamics::DynamicsOptions& o, int64_t batch, int64_t context_frames, int64_t horizon, int64_t element_bytes) {
  const double C = static_cast<double>(o.width), B = static_cast<double>(batch);
  const double kv_share = static_cast<double>(o.key_value_heads()) / static_cast<double>(o.heads);  // of the key/value width
  const int64_t K = o.tokens_per_frame, P = o.positions_per_step();
  const bool parallel = o.decoding == dynamics::Decoding::kParallel;
  DreamCost cost;
  int64_t length = 0;  // positions in the cache
  // One cached pass as WorldModel::transform_cached makes it: R new positions (q, k, v
  // projections), Q frame queries (q only); rows before `output_from` skip the attention, the
  // output projection and the MLP in the last layer. Multiply-adds count 2 flops.
  auto pass = [&](int64_t R, int64_t Q, int64_t last_output_from) {
    for (int64_t layer = 0; layer < o.layers; ++layer) {
      const int64_t from = layer + 1 == o.layers ? last_output_from : 0;
      double flops = static_cast<double>(R) * (2.0 + 4.0 * kv_share) * C * C + static_cast<double>(Q) * 2.0 * C * C;
      for (int64_t row = from; row < R + Q; ++row) {
        const double keys_seen = static_cast<double>(row < R ? length + row + 1 : length + R);
        flops += 4.0 * keys_seen * C + 18.0 * C * C;  // scores and weighted values; output projection, 4C MLP
      }
      cost.flops += B * flops;
      if (from < R + Q) cost.cache_bytes += B * 2.0 * static_cast<double>(length + R) * C * kv_share * static_cast<double>(element_bytes);
    }
    length += R;
  };
  auto head = [&](int64_t rows) { cost.flops += B * static_cast<double>(rows) * 2.0 * C * static_cast<double>(o.vocab_size); };
  auto prime = [&](int64_t frames) {
    length = 0;
    const int64_t n = (frames - 1) * P + (parallel ? 0 : K);
    if (n > 0) pass(n, 0, n);
  };
  int64_t steps = context_frames;
  prime(steps);
  for (int64_t step = 0; step < horizon; ++step) {
    if (steps >= o.context_steps) {
      steps = std::max<int64_t>(1, o.context_steps / 2);
      prime(steps);
    }
    if (parallel) {
      pass(K + 1, K, K);  // frame t and a_t in, the queries of t + 1 out
      head(K);
    } else {
      pass(1, 0, 0);  // a_t
      for (int64_t j = 0; j < K; ++j) {
        head(1);
        pass(1, 0, j + 1 < K ? 0 : 1);  // the frame's last token only fills the cache
      }
    }
    ++steps;
  }
  return cost;
}

namespace {

struct DreamTiming {
  double seconds = 0;  // the timed horizon, all trajectories
  double peak_mb = 0;  // resident peak after it
  bool packed = false; // the cache took the packed bf16 layout
};

// One warm-up step, then `horizon` imagined steps of all trajectories from one real frame.
DreamTiming time_dream(const dynamics::WorldModel& model, const ImagineBenchOptions& options, const torch::Tensor& context,
                       const torch::Tensor& actions) {
  const dynamics::SamplingMethod method =
      options.sampler == "multinomial" ? dynamics::SamplingMethod::kMultinomial : dynamics::SamplingMethod::kInverseCdf;
  std::optional<dynamics::KVLayout> layout;
  if (options.cache == "head_major") layout = dynamics::KVLayout::kHeadMajor;
  if (options.cache == "packed_bf16") layout = dynamics::KVLayout::kPackedBf16;
  dynamics::Imagination dream(model, context.size(0), {.temperature = 1.0, .seed = 1, .method = method}, layout);
  auto run = [&](int64_t steps) {
    dream.reset(context, actions.narrow(1, 0, 0));
    for (int64_t step = 0; step < steps; ++step) dream.step(actions.select(1, step));
  };
  run(1);
  const auto start = Clock::now();
  run(options.horizon);
  return {seconds_since(start), peak_rss_mb(), dream.cache().layout() == dynamics::KVLayout::kPackedBf16};
}

}  // namespace

std::vector<BenchRecord> run_imagine_bench(const ImagineBenchOptions& options) {
  const Size size = size_of(options);
  const dynamics::DynamicsOptions& o = size.model;
  const int64_t batch = size.batch, horizon = options.horizon;
  const bool bf16 = options.precision == "bf16";
  core::check_precision_supported(c10::Device(c10::kCPU), bf16 ? core::Precision::kBf16 : core::Precision::kFp32, "wm bench imagine");
  const int threads = core::configure_threads(options.threads, 1);

  // Minutes at IRIS's size on 2 cores: say what runs, on stderr (stdout is the JSON).
  spdlog::info("bench imagine: {} model, {} dreams x {} steps in wm ({} decoding, {}, {} sampler)", options.size, batch, horizon,
               options.decoding, options.precision, options.sampler);
  torch::manual_seed(0);
  dynamics::WorldModel trained(o);
  trained->eval();
  const torch::Tensor context = torch::randint(0, o.vocab_size, {batch, 1, o.tokens_per_frame}, torch::kInt64);
  const torch::Tensor actions = torch::randint(0, o.num_actions, {batch, horizon + 1}, torch::kInt64);
  const DreamTiming timing = time_dream(dynamics::dream_model(trained, bf16 ? core::Precision::kBf16 : core::Precision::kFp32), options,
                                        context, actions);
  const double env_steps = static_cast<double>(batch * horizon), seconds = timing.seconds;

  // Ceilings in the same run: memory read bandwidth (a buffer 8x the last-level cache) and
  // the GEMM rate of the precision computed in; the work from the pass schedule.
  spdlog::info("bench imagine: {:.1f} s; measuring the memory-bandwidth and GEMM ceilings", seconds);
  const double bandwidth = run_memory_bench(int64_t{256} << 20, 0.3).read_gb_per_s;
  const double gemm = run_gemm_bench(c10::Device(c10::kCPU), bf16 ? torch::kBFloat16 : torch::kFloat32, 1024, 0.3).gflops;
  const DreamCost cost = dream_cost(o, batch, 1, horizon, bf16 ? 2 : 4);

  const nlohmann::ordered_json where = {
      {"size", options.size}, {"layers", o.layers}, {"width", o.width}, {"heads", o.heads}, {"kv_heads", o.key_value_heads()},
      {"context_steps", o.context_steps}, {"tokens_per_frame", o.tokens_per_frame}, {"batch", batch}, {"horizon", horizon},
      {"decoding", options.decoding}, {"precision", options.precision}, {"sampler", options.sampler},
      {"cache", timing.packed ? "packed_bf16" : "head_major"}, {"threads", threads}, {"device", "cpu"}};
  auto record = [&](const std::string& metric, double value) {
    BenchRecord r;
    r.bench = "imagine";
    r.metric = metric;
    r.value = value;
    r.context = where;
    return r;
  };
  std::vector<BenchRecord> records;
  BenchRecord same_settings = record("env_steps_per_s", env_steps / seconds);
  BenchRecord memory = record("peak_rss_mb", timing.peak_mb);
  if (options.reference) {
    spdlog::info("bench imagine: the PyTorch twin, token by token in fp32 with torch.multinomial, then with the same settings");
    const std::string arguments = twin_arguments(o, threads, batch, horizon);
    const auto today = run_python_reference("dynamics_reference.py", arguments + " --decoding ar --precision fp32 --sampler multinomial");
    BenchRecord against_today = record("env_steps_per_s", env_steps / seconds);
    against_today.baseline = "pytorch_ar_fp32_multinomial";
    against_today.baseline_value = today.at("imagine_steps_per_s").get<double>();
    records.push_back(against_today);
    const auto twin = run_python_reference("dynamics_reference.py", arguments + " --decoding " + options.decoding + " --precision " +
                                                                           options.precision + " --sampler " + options.sampler);
    same_settings.baseline = "pytorch";
    same_settings.baseline_value = twin.at("imagine_steps_per_s").get<double>();
    memory.baseline = "pytorch";
    memory.baseline_value = twin.at("peak_rss_mb").get<double>();
  }
  records.push_back(same_settings);

  BenchRecord read = record("cache_read_gb_per_s", cost.cache_bytes / seconds / 1e9);
  read.context["cache_bytes_per_env_step"] = cost.cache_bytes / env_steps;
  read.context["bandwidth_ceiling_gb_per_s"] = bandwidth;
  read.context["fraction_of_bandwidth"] = cost.cache_bytes / seconds / 1e9 / bandwidth;
  records.push_back(read);
  BenchRecord compute = record("gflops", cost.flops / seconds / 1e9);
  compute.context["flops_per_env_step"] = cost.flops / env_steps;
  compute.context["gemm_ceiling_gflops"] = gemm;
  compute.context["fraction_of_gemm"] = cost.flops / seconds / 1e9 / gemm;
  records.push_back(compute);
  memory.context["kv_cache_mb"] = 2.0 * static_cast<double>(o.layers * batch * o.max_positions() * o.width / o.heads * o.key_value_heads()) *
                                  (bf16 ? 2.0 : 4.0) / (1024.0 * 1024.0);
  records.push_back(memory);

  if (options.recompute_horizon > 0) {
    spdlog::info("bench imagine: {} steps recomputed without a cache", options.recompute_horizon);
    const auto start = Clock::now();
    imagine_by_recompute(trained, context, actions, options.recompute_horizon);
    BenchRecord recompute = record("env_steps_per_s", env_steps / seconds);
    recompute.baseline = "recompute_without_cache";
    recompute.baseline_value = static_cast<double>(batch * options.recompute_horizon) / seconds_since(start);
    recompute.context["recompute_horizon"] = options.recompute_horizon;
    records.push_back(recompute);
  }
  return records;
}

}  // namespace wm::bench
