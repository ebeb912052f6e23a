#include "bench/dump_bench.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>

#include "core/checkpoint.h"
#include "core/device.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "dataloader/frame_source.h"
#include "dataloader/token_dump.h"
#include "tokenizer/tokenizer_checkpoint.h"

namespace wm::bench {

namespace {

using Clock = std::chrono::steady_clock;

// A scratch folder removed on every way out.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    path = std::filesystem::temp_directory_path() / ("wm-bench-dump-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

double frames_per_s(const dataloader::TokenDumpResult& r) { return static_cast<double>(r.frames) / r.seconds; }

}  // namespace

std::vector<BenchRecord> run_dump_bench(const DumpBenchOptions& options) {
  std::vector<BenchRecord> records;
  if (!std::filesystem::exists(options.video)) return records;
  const int threads = core::configure_threads(options.threads, 1);
  const c10::Device device = core::resolve_device(options.device);
  ScratchDir scratch;

  // The tokenizer: the given checkpoint, or the default model saved untrained.
  std::filesystem::path checkpoint = options.tokenizer;
  if (checkpoint.empty()) {
    torch::manual_seed(0);
    tokenizer::VQModel model(tokenizer::TokenizerOptions{});
    core::CheckpointWriter writer;
    tokenizer::add_tokenizer(writer, model);
    checkpoint = scratch.path / "tokenizer.ckpt";
    writer.save(checkpoint);
  }
  const tokenizer::LoadedTokenizer tok = tokenizer::load_tokenizer(checkpoint, device);
  const auto& o = tok.model->options();
  const dataloader::TokenizerIdentity identity{checkpoint.string(), tok.content_hash, o.grid_height(), o.grid_width(),
                                               o.vocab_size,        o.height,          o.width};

  // The input: the recording linked under `loops` names, each a source of its own.
  const auto inputs = scratch.path / "videos";
  std::filesystem::create_directories(inputs);
  for (int i = 0; i < options.loops; ++i) {
    std::filesystem::create_symlink(std::filesystem::absolute(options.video), inputs / ("loop" + std::to_string(i) + ".mp4"));
  }
  dataloader::TokenDumpOptions dump;
  dump.batch = options.batch > 0 ? options.batch : dataloader::auto_dump_batch(device.is_cuda());
  dump.decode_threads = options.decode_threads;

  // Decode-only: the whole pipeline with an encoder that does nothing.
  tokenizer::VQModel model = tok.model;
  const dataloader::FrameEncoder no_encode = [&](const at::Tensor& frames) {
    return torch::zeros({frames.size(0), o.grid_height(), o.grid_width()}, torch::kInt16);
  };
  const auto decode_only = dataloader::dump_tokens({inputs}, scratch.path / "decode_only", identity, no_encode, dump);

  // Encode-only: the tokenizer on batches already decoded.
  const auto reader = dataloader::open_frame_source(options.video, {.height = static_cast<int>(o.height), .width = static_cast<int>(o.width)});
  const at::Tensor batch = dataloader::read_frames(*reader, 0, std::min<int64_t>(dump.batch, reader->info().frames));
  model->encode(batch);  // warm-up
  int64_t encoded = 0;
  const auto start = Clock::now();
  while (encoded < decode_only.frames) {
    model->encode(batch);
    if (device.is_cuda()) torch::cuda::synchronize();
    encoded += batch.size(0);
  }
  const double encode_only = static_cast<double>(encoded) / std::chrono::duration<double>(Clock::now() - start).count();

  // End to end.
  const dataloader::FrameEncoder encode = [&](const at::Tensor& frames) { return model->encode(frames); };
  const auto end_to_end = dataloader::dump_tokens({inputs}, scratch.path / "tokens", identity, encode, dump);

  const nlohmann::ordered_json context = {{"frames", end_to_end.frames},       {"sources", options.loops},
                                          {"video", options.video.filename().string()}, {"frame", std::to_string(o.height) + "x" + std::to_string(o.width)},
                                          {"batch", dump.batch},            {"decode_threads", options.decode_threads},
                                          {"threads", threads},                {"device", device.str()}};
  const double decode_rate = frames_per_s(decode_only), e2e = frames_per_s(end_to_end);
  BenchRecord r;
  r.bench = "dump";
  r.context = context;
  r.metric = "decode_only_frames_per_s";
  r.value = decode_rate;
  records.push_back(r);
  r.metric = "encode_only_frames_per_s";
  r.value = encode_only;
  records.push_back(r);
  r.metric = "end_to_end_frames_per_s";
  r.value = e2e;
  r.baseline = decode_rate < encode_only ? "decode_only" : "encode_only";
  r.baseline_value = std::min(decode_rate, encode_only);
  if (!device.is_cuda()) {
    // On a CPU both stages share the same cores: the best a pipeline can do is the two
    // stages' work done back to back with no idle core, 1 / (1/decode + 1/encode).
    const double shared = 1.0 / (1.0 / decode_rate + 1.0 / encode_only);
    r.context["cpu_shared_bound_frames_per_s"] = shared;
    r.context["of_cpu_shared_bound"] = e2e / shared;
  }
  records.push_back(r);
  return records;
}

}  // namespace wm::bench
