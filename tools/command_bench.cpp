// wm bench <what> [--json]: benchmark figures, one per line (JSON objects with --json).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <memory>
#include <unistd.h>

#include "bench/allreduce_bench.h"
#include "bench/bench_record.h"
#include "bench/decode_bench.h"
#include "bench/dump_bench.h"
#include "bench/dynamics_bench.h"
#include "bench/env_bench.h"
#include "bench/gemm_bench.h"
#include "bench/imagine_bench.h"
#include "bench/memory_bench.h"
#include "bench/tokenizer_bench.h"
#include "core/build_info.h"
#include "core/device.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "tools/action_bench.h"
#include "tools/commands.h"
#include "tools/dream_options_cli.h"
#include "tools/dream_report.h"
#include "tools/play_bench.h"
#include "tools/precision_bench.h"

namespace wm::tools {

namespace {

struct GemmArgs {
  bool json = false;
  std::string device = "auto";
  std::vector<int64_t> sizes = {1024, 2048};
  int threads = 0;
  double min_seconds = 1.0;
};

void run_gemm(const GemmArgs& args) {
  const c10::Device device = core::resolve_device(args.device);
  const int threads = core::configure_threads(args.threads, /*local_world_size=*/1);
  const core::BuildInfo info = core::build_info();
  const std::string device_name =
      device.is_cuda() ? info.gpu_name : "cpu (" + info.cpu_capability + ")";
  for (int64_t n : args.sizes) {
    for (auto [dtype, name] : {std::pair{torch::kFloat32, "fp32"}, std::pair{torch::kBFloat16, "bf16"}}) {
      const bench::GemmResult result = bench::run_gemm_bench(device, dtype, n, args.min_seconds);
      bench::BenchRecord record;
      record.bench = "gemm";
      record.metric = std::string(name) + "_gflops";
      record.value = result.gflops;
      record.context = {{"device", device.str()},  {"device_name", device_name},
                        {"n", n},                  {"threads", threads},
                        {"blas", info.blas},       {"torch", info.torch_version}};
      bench::print_record(record, args.json);
    }
  }
}

// Thread counts a process can start: 100000 used to end in SIGSEGV with no message.
const CLI::Range kThreadCount(0, 1024, "0 (all cores) .. 1024");

}  // namespace

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (one figure per line; --json for JSON lines)");
  bench->require_subcommand(1);

  auto gemm = std::make_shared<GemmArgs>();
  CLI::App* gemm_cmd = bench->add_subcommand(
      "gemm", "Matrix-product GFLOP/s (fp32, bf16): the ceiling efficiency figures divide by");
  gemm_cmd->add_flag("--json", gemm->json, "one JSON object per line");
  gemm_cmd->add_option("--device", gemm->device, "auto|cpu|cuda|cuda:<i>")->capture_default_str();
  gemm_cmd->add_option("--sizes", gemm->sizes, "matrix sizes n (n x n times n x n), e.g. 512,1024 or 512 1024")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{32768}));
  gemm_cmd->add_option("--threads", gemm->threads, "intra-op threads; 0 = all cores")->capture_default_str()->check(kThreadCount);
  gemm_cmd->add_option("--min-time", gemm->min_seconds, "seconds per timed repeat")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 3600.0));
  gemm_cmd->callback([gemm] { run_gemm(*gemm); });

  struct EnvArgs {
    bool json = false;
    bench::EnvBenchOptions options;
  };
  auto env = std::make_shared<EnvArgs>();
  CLI::App* env_cmd = bench->add_subcommand(
      "env", "Environment steps/s (driving: 1 thread and vectorized; Pong through the bridge) and driving returns");
  env_cmd->add_flag("--json", env->json, "one JSON object per line");
  env_cmd->add_option("--min-time", env->options.min_seconds, "seconds per throughput figure")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  env_cmd->add_option("--envs", env->options.vector_envs, "environments in the vectorized driving figure")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  env_cmd->add_option("--workers", env->options.gym_workers, "Pong worker processes")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{256}));
  env_cmd->add_option("--episodes", env->options.return_episodes, "episodes per return figure")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  env_cmd->add_flag("!--no-gym", env->options.gym, "leave out the Gymnasium bridge figure");
  env_cmd->callback([env] {
    for (const auto& record : bench::run_env_bench(env->options)) bench::print_record(record, env->json);
  });

  struct TokenizerArgs {
    bool json = false;
    bench::TokenizerBenchOptions options;
  };
  auto tok = std::make_shared<TokenizerArgs>();
  CLI::App* tok_cmd = bench->add_subcommand(
      "tokenizer", "Tokenizer training and encoding frames/s, C++ against the same model in PyTorch");
  tok_cmd->add_flag("--json", tok->json, "one JSON object per line");
  tok_cmd->add_option("--batch", tok->options.batch, "frames per step")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
  tok_cmd->add_option("--threads", tok->options.threads, "intra-op threads; 0 = all cores")->capture_default_str()->check(kThreadCount);
  tok_cmd->add_option("--seconds", tok->options.seconds, "seconds per figure and implementation")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  tok_cmd->add_flag("!--no-reference", tok->options.reference, "leave out the PyTorch peer");
  tok_cmd->add_option("--norm-kernel", tok->options.norm_kernel,
                      "fused GroupNorm+SiLU build: best (default), avx512, avx2, or none (the unfused ATen ops)")
      ->capture_default_str();
  tok_cmd->add_option("--precision", tok->options.precision,
                      "fp32, or bf16: autocast training and encoding against fp32 in the same run and the PyTorch peer autocast alike")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  tok_cmd->callback([tok] {
    for (const auto& record : bench::run_tokenizer_bench(tok->options)) bench::print_record(record, tok->json);
  });

  struct DecodeArgs {
    bool json = false;
    bench::DecodeBenchOptions options;
  };
  auto decode = std::make_shared<DecodeArgs>();
  decode->options.video = bench::default_bench_video();
  CLI::App* decode_cmd = bench->add_subcommand(
      "decode", "Video decode + resize frames/s (1 and 2 decoder threads, 2 files at once)");
  decode_cmd->add_flag("--json", decode->json, "one JSON object per line");
  decode_cmd->add_option("--video", decode->options.video, "video to decode (default: the shared Udacity recording)");
  decode_cmd->add_option("--min-time", decode->options.min_seconds, "seconds per figure")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  decode_cmd->add_option("--size", decode->options.size, "output frames are size x size")
      ->capture_default_str()
      ->check(CLI::Range(8, 4096));
  decode_cmd->callback([decode, decode_cmd] {
    const auto records = bench::run_decode_bench(decode->options);
    if (records.empty()) {
      // A video the user named must exist; the default recording may be absent (no data here).
      if (decode_cmd->count("--video") > 0) throw core::Error("bench decode: --video " + decode->options.video.string() + " does not exist");
      spdlog::warn("bench decode: {} does not exist; nothing measured", decode->options.video.string());
    }
    for (const auto& record : records) bench::print_record(record, decode->json);
  });

  struct AllreduceArgs {
    bool json = false;
    std::string worker;  // set by the bench itself for the processes it launches
    bench::AllreduceBenchOptions options;
  };
  auto allreduce = std::make_shared<AllreduceArgs>();
  CLI::App* allreduce_cmd = bench->add_subcommand(
      "allreduce", "Data-parallel world-model training on 1 and 2 ranks (wmrun workers; Gloo, or NCCL on GPUs): tokens/s against one rank, bucketed "
                   "all-reduce overlapped with backward against one all-reduce per parameter, the share of communication hidden");
  allreduce_cmd->add_flag("--json", allreduce->json, "one JSON object per line");
  allreduce_cmd->add_option("--ranks", allreduce->options.ranks, "job sizes, each launched on this machine, e.g. 1,2")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  allreduce_cmd->add_option("--steps", allreduce->options.steps, "timed optimizer steps per variant")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  allreduce_cmd->add_option("--batch", allreduce->options.batch, "windows per rank and step")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  allreduce_cmd->add_option("--bucket-mb", allreduce->options.bucket_mb, "gradient bucket size")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4096.0));
  allreduce_cmd->add_flag("--iris", allreduce->options.iris, "IRIS's model size instead of the demo's");
  allreduce_cmd->add_option("--timeout", allreduce->options.timeout_s, "seconds the workers wait for each other")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  allreduce_cmd->add_option("--device", allreduce->options.device, "cpu (Gloo), cuda (NCCL, one GPU per rank) or auto")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  allreduce_cmd->add_option("--precision", allreduce->options.precision, "fp32, or bf16 (autocast)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  allreduce_cmd->add_option("--worker", allreduce->worker, "(internal) run as a launched worker, rank 0 writing its figures here")
      ->group("");
  allreduce_cmd->callback([allreduce] {
    if (!allreduce->worker.empty()) {
      bench::run_allreduce_worker(allreduce->options, allreduce->worker);
      return;
    }
    for (const auto& record : bench::run_allreduce_bench(allreduce->options)) bench::print_record(record, allreduce->json);
  });

  struct PlayArgs {
    bool json = false;
    PlayBenchOptions options;
  };
  auto play = std::make_shared<PlayArgs>();
  CLI::App* play_cmd = bench->add_subcommand(
      "play", "wm play's speed: dreamed frames/s end to end over loopback HTTP (action in, PNG out), and the server's imagine/decode/encode split");
  play_cmd->add_flag("--json", play->json, "one JSON object per line");
  play_cmd->add_option("--run", play->options.run, "a run folder with tokenizer and dynamics checkpoints")->required();
  play_cmd->add_option("--from", play->options.from, "where the start frames come from (as wm play)")->capture_default_str();
  play_cmd->add_option("--device", play->options.device, "auto|cpu|cuda|cuda:<i>")->capture_default_str();
  play_cmd->add_option("--frames", play->options.frames, "timed frames")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{100000}));
  play_cmd->callback([play] {
    for (const auto& record : run_play_bench(play->options)) bench::print_record(record, play->json);
  });

  struct DynamicsArgs {
    bool json = false;
    bench::DynamicsBenchOptions options;
  };
  auto dyn = std::make_shared<DynamicsArgs>();
  CLI::App* dyn_cmd = bench->add_subcommand(
      "dynamics", "World-model training tokens/s at IRIS's size and a small one, C++ against the same model in PyTorch");
  dyn_cmd->add_flag("--json", dyn->json, "one JSON object per line");
  dyn_cmd->add_option("--threads", dyn->options.threads, "intra-op threads; 0 = all cores")->capture_default_str()->check(kThreadCount);
  dyn_cmd->add_option("--steps", dyn->options.train_steps, "timed optimizer steps per size and implementation")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  dyn_cmd->add_flag("!--no-reference", dyn->options.reference, "leave out the PyTorch peer");
  dyn_cmd->add_flag("--small-only", dyn->options.small_only, "leave out the IRIS-size model");
  dyn_cmd->add_option("--precision", dyn->options.precision,
                      "fp32, or bf16: autocast training against fp32 in the same run and the PyTorch peer autocast alike")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  dyn_cmd->callback([dyn] {
    for (const auto& record : bench::run_dynamics_bench(dyn->options)) bench::print_record(record, dyn->json);
  });

  struct ImagineArgs {
    bool json = false;
    bench::ImagineBenchOptions options;
  };
  auto imagine = std::make_shared<ImagineArgs>();
  CLI::App* imagine_cmd = bench->add_subcommand(
      "imagine", "Imagined env-steps/s, cache bytes read and FLOPs per step against the bandwidth and GEMM ceilings, peak memory; "
                 "against the PyTorch twin token by token in fp32 and at the same settings");
  auto& io = imagine->options;
  imagine_cmd->add_flag("--json", imagine->json, "one JSON object per line");
  imagine_cmd->add_option("--size", io.size, "demo (4 x 128, 10 steps, batch 64) or iris (10 x 256, 20 steps, batch 32)")
      ->capture_default_str()
      ->check(CLI::IsMember({"demo", "iris"}));
  imagine_cmd->add_option("--decoding", io.decoding, "ar (token by token) or parallel (whole frames)")
      ->capture_default_str()
      ->check(CLI::IsMember({"ar", "parallel"}));
  imagine_cmd->add_option("--precision", io.precision, "fp32 or bf16 (weights, activations and KV cache)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  imagine_cmd->add_option("--sampler", io.sampler, "inverse_cdf (one draw per row) or multinomial (one per vocabulary entry)")
      ->capture_default_str()
      ->check(CLI::IsMember({"inverse_cdf", "multinomial"}));
  imagine_cmd->add_option("--cache", io.cache, "KV cache layout: auto, head_major, or packed_bf16 (bf16 only, CPUs with AVX512-BF16)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "head_major", "packed_bf16"}));
  imagine_cmd->add_option("--layers", io.layers, "custom size: transformer blocks (0: the size's)")->check(CLI::Range(int64_t{0}, int64_t{256}));
  imagine_cmd->add_option("--width", io.width, "custom size: embedding width (0: the size's)")->check(CLI::Range(int64_t{0}, int64_t{16384}));
  imagine_cmd->add_option("--heads", io.heads, "custom size: attention heads (0: the size's)")->check(CLI::Range(int64_t{0}, int64_t{256}));
  imagine_cmd->add_option("--kv-heads", io.kv_heads, "key/value heads (grouped-query attention; must divide heads); 0: as many as heads")
      ->check(CLI::Range(int64_t{0}, int64_t{256}));
  imagine_cmd->add_option("--context", io.context_steps, "custom size: steps of context (0: the size's)")->check(CLI::Range(int64_t{0}, int64_t{1024}));
  imagine_cmd->add_option("--threads", io.threads, "intra-op threads; 0 = all cores")->capture_default_str()->check(kThreadCount);
  imagine_cmd->add_option("--batch", io.batch, "trajectories; 0 = the size's")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{4096}));
  imagine_cmd->add_option("--horizon", io.horizon, "imagined steps")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000}));
  imagine_cmd->add_option("--recompute-horizon", io.recompute_horizon, "also time imagination without a cache for this many steps (0: not)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1000}));
  imagine_cmd->add_flag("!--no-reference", io.reference, "leave out the PyTorch twin");
  imagine_cmd->callback([imagine] {
    for (const auto& record : bench::run_imagine_bench(imagine->options)) bench::print_record(record, imagine->json);
  });

  struct PrecisionArgs {
    bool json = false;
    std::string run;
    int64_t batches = 4;
    int64_t batch = 16;
  };
  auto precision = std::make_shared<PrecisionArgs>();
  CLI::App* precision_cmd = bench->add_subcommand(
      "precision", "bf16 imagination against fp32 on a trained dynamics model and its held-out windows: top-1 agreement and KL");
  precision_cmd->add_flag("--json", precision->json, "one JSON object per line");
  precision_cmd->add_option("--run", precision->run, "a run folder with a dynamics checkpoint and its config.yaml")->required();
  precision_cmd->add_option("--batches", precision->batches, "held-out batches")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000}));
  precision_cmd->add_option("--batch", precision->batch, "windows per batch")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
  precision_cmd->callback([precision] {
    for (const auto& record : run_precision_bench(precision->run, precision->batches, precision->batch)) {
      bench::print_record(record, precision->json);
    }
  });

  struct ActionArgs {
    bool json = false;
    ActionBenchOptions options;
  };
  auto actions = std::make_shared<ActionArgs>();
  CLI::App* actions_cmd = bench->add_subcommand(
      "actions", "The dream against the real driving game from the same states, each action held: returns, the speed shown, "
                 "how well the dream ranks a state's actions");
  auto& ao = actions->options;
  actions_cmd->add_flag("--json", actions->json, "one JSON object per line");
  actions_cmd->add_option("--run", ao.run, "a run folder with tokenizer and dynamics checkpoints and its config.yaml")->required();
  actions_cmd->add_option("--tokenizer", ao.tokenizer, "a tokenizer checkpoint or run folder (default: the run's newest)");
  actions_cmd->add_option("--dynamics", ao.dynamics, "a dynamics checkpoint or run folder (default: the run's newest)");
  actions_cmd->add_option("--starts", ao.starts, "real states to branch from")->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{4096}));
  actions_cmd->add_option("--horizon", ao.horizon, "steps each action is held")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000}));
  actions_cmd->add_option("--context", ao.context, "real frames that prime the dream")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000}));
  actions_cmd->add_option("--seed", ao.seed, "where the starts are drawn")->capture_default_str();
  actions_cmd->callback([actions] {
    for (const auto& record : run_action_bench(actions->options)) bench::print_record(record, actions->json);
  });

  struct DreamArgs {
    bool json = false;
    DreamOptions options;
    double fps = 5.0;
  };
  auto dream = std::make_shared<DreamArgs>();
  CLI::App* dream_cmd = bench->add_subcommand(
      "dream", "What a wm dream report costs: dreamed frames per second end to end (imagination, decoding, drawing, video encoding)");
  dream_cmd->add_flag("--json", dream->json, "one JSON object per line");
  add_dream_options(*dream_cmd, dream->options, dream->fps);
  dream_cmd->callback([dream] {
    // The report is made in a temporary folder and thrown away: only its cost is measured.
    const std::filesystem::path out = std::filesystem::temp_directory_path() / ("wm_bench_dream." + std::to_string(::getpid()));
    dream->options.out = out;
    struct Cleanup {
      std::filesystem::path dir;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    } cleanup{out};
    const DreamReport r = write_dream_report(dream->options, dream->fps);
    const double seconds = r.seconds_imagine + r.seconds_decode + r.seconds_render + r.seconds_encode;
    const nlohmann::ordered_json context = {{"device", "cpu"},
                                            {"run", dream->options.run.string()},
                                            {"starts", dream->options.starts},
                                            {"samples", dream->options.samples},
                                            {"horizon", dream->options.horizon},
                                            {"dreamed_frames", r.dreamed_frames},
                                            {"video_frames", r.video_frames},
                                            {"seconds_imagine", r.seconds_imagine},
                                            {"seconds_decode", r.seconds_decode},
                                            {"seconds_draw", r.seconds_render},
                                            {"seconds_encode", r.seconds_encode},
                                            {"seconds_total", r.seconds_total},
                                            {"threads", at::get_num_threads()},
                                            {"cpu", core::build_info().cpu_capability}};
    bench::print_record({.bench = "dream", .metric = "dreamed_frames_per_s", .value = static_cast<double>(r.dreamed_frames) / seconds, .context = context},
                        dream->json);
    bench::print_record({.bench = "dream", .metric = "imagined_frames_per_s", .value = static_cast<double>(r.dreamed_frames) / r.seconds_imagine,
                         .context = context},
                        dream->json);
  });

  struct MemoryArgs {
    bool json = false;
    std::vector<int64_t> megabytes = {256, 8};
    int threads = 0;
    double min_seconds = 0.5;
  };
  auto memory = std::make_shared<MemoryArgs>();
  CLI::App* memory_cmd = bench->add_subcommand("memory", "Memory read GB/s of the CPU: the ceiling a KV-cache read divides by");
  memory_cmd->add_flag("--json", memory->json, "one JSON object per line");
  memory_cmd->add_option("--sizes", memory->megabytes, "buffers to read, in MiB (larger than the last-level cache: main memory), e.g. 256,1024")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  memory_cmd->add_option("--threads", memory->threads, "intra-op threads; 0 = all cores")->capture_default_str()->check(kThreadCount);
  memory_cmd->add_option("--min-time", memory->min_seconds, "seconds per timed repeat")->capture_default_str()->check(CLI::Range(0.01, 3600.0));
  memory_cmd->callback([memory] {
    const int threads = core::configure_threads(memory->threads, 1);
    for (int64_t mb : memory->megabytes) {
      const bench::MemoryBandwidth result = bench::run_memory_bench(mb << 20, memory->min_seconds);
      bench::BenchRecord record;
      record.bench = "memory";
      record.metric = "read_gb_per_s";
      record.value = result.read_gb_per_s;
      record.context = {{"device", "cpu"}, {"mib", mb}, {"threads", threads}, {"cpu", core::build_info().cpu_capability}};
      bench::print_record(record, memory->json);
    }
  });

  struct DumpArgs {
    bool json = false;
    bench::DumpBenchOptions options;
  };
  auto dump = std::make_shared<DumpArgs>();
  dump->options.video = bench::default_bench_video();
  CLI::App* dump_cmd = bench->add_subcommand(
      "dump", "Token-dump frames/s end to end, against decode-only and encode-only rates in the same run");
  dump_cmd->add_flag("--json", dump->json, "one JSON object per line");
  dump_cmd->add_option("--video", dump->options.video, "video to loop (default: the shared Udacity recording)");
  dump_cmd->add_option("--loops", dump->options.loops, "copies of the video, each a source")->capture_default_str()->check(CLI::Range(1, 1000));
  dump_cmd->add_option("--tokenizer", dump->options.tokenizer, "tokenizer checkpoint (default: the default model, untrained)");
  dump_cmd->add_option("--device", dump->options.device, "auto, cpu, cuda, cuda:<i>")->capture_default_str();
  dump_cmd->add_option("--batch", dump->options.batch, "frames per encode call; 0 = 16 on CPU, 256 on GPU")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{65536}));
  dump_cmd->add_option("--decode-threads", dump->options.decode_threads, "sources decoded at once")->capture_default_str()->check(CLI::Range(1, 256));
  dump_cmd->add_option("--threads", dump->options.threads, "intra-op threads for the encoder; 0 = all cores")->capture_default_str()->check(kThreadCount);
  dump_cmd->callback([dump] {
    const auto records = bench::run_dump_bench(dump->options);
    if (records.empty()) spdlog::warn("bench dump: {} does not exist; nothing measured", dump->options.video.string());
    for (const auto& record : records) bench::print_record(record, dump->json);
  });
}

}  // namespace wm::tools
