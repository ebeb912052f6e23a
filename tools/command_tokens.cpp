// wm tokens dump|import|info|decode: datasets -> token shards (dataloader/token_dump.h), token
// arrays made elsewhere -> token shards (dataloader/token_import.h), their statistics and
// integrity, and shards back to video through the tokenizer.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <iostream>

#include "core/checkpoint.h"
#include "core/device.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/npy.h"
#include "core/run_dir.h"
#include "dataloader/token_dump.h"
#include "dataloader/token_import.h"
#include "dist/worker_env.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/checkpoint_paths.h"
#include "tools/commands.h"
#include "tools/training_run.h"
#include "tools/wm_config.h"
#include "viz/video_writer.h"

namespace wm::tools {

namespace {

struct DumpArgs {
  std::vector<std::string> inputs;
  std::string tokenizer, out, config_file;
  int64_t batch = 0;  // 0: auto_dump_batch
  int decode_threads = 2;
  bool force = false;
};

dataloader::TokenizerIdentity identity_of(const tokenizer::LoadedTokenizer& loaded, const std::string& checkpoint) {
  const auto& o = loaded.model->options();
  return {checkpoint, loaded.content_hash, o.grid_height(), o.grid_width(), o.vocab_size, o.height, o.width};
}

void run_dump(const DumpArgs& args) {
  const auto [inputs, overrides] = split_inputs_and_overrides(args.inputs);
  if (inputs.empty()) throw core::Error("wm tokens dump: no input given (videos, image folders, episode stores, or folders of them)");
  const LoadedConfig loaded = load_wm_config(args.config_file, overrides);
  const WmConfig& config = loaded.config;
  // Under a launcher (wmrun, torchrun, srun, mpirun) each rank takes every world_size-th source;
  // no collective is needed: shards are folders of their own, and the manifest rebuilt under a
  // lock by each rank at its end lists them all once the last rank is done.
  const dist::WorkerEnv env = dist::worker_env();
  core::init_logging(config.log, {}, env.rank);
  core::configure_threads(config.run.threads, env.local_world_size);
  const c10::Device device = training_device(config);

  // The tokenizer first: a checkpoint that does not load stops the run before any work.
  const std::filesystem::path checkpoint = resolve_checkpoint(args.tokenizer, "tokenizer");
  const tokenizer::LoadedTokenizer tok = tokenizer::load_tokenizer(checkpoint, device);
  const dataloader::TokenizerIdentity identity = identity_of(tok, checkpoint.string());
  tokenizer::VQModel model = tok.model;
  const core::Precision precision = config.run.precision;
  const dataloader::FrameEncoder encode = [&](const at::Tensor& frames) {
    core::AutocastGuard autocast(device, precision);
    return model->encode(frames);
  };

  dataloader::TokenDumpOptions options;
  options.video = config.dataset.video;
  options.batch = args.batch > 0 ? args.batch : dataloader::auto_dump_batch(device.is_cuda());
  options.decode_threads = args.decode_threads;
  options.force = args.force;
  options.rank = env.rank;
  options.world_size = env.world_size;
  spdlog::info("tokenizer {} ({}x{} frames -> {}x{} tokens of {}, hash {}) on {}", checkpoint.string(), identity.frame_height,
               identity.frame_width, identity.grid_height, identity.grid_width, identity.vocab_size, identity.hash.substr(0, 12),
               device.str());
  const dataloader::TokenDumpResult r = dataloader::dump_tokens(inputs, args.out, identity, encode, options);

  spdlog::info("wrote {} shard(s), {} frames in {:.1f} s ({:.0f} frames/s); {} already done; {} failed; {} now lists {} shards, {} frames",
               r.written, r.frames, r.seconds, r.seconds > 0 ? static_cast<double>(r.frames) / r.seconds : 0.0, r.already_done,
               r.failures.size(), (std::filesystem::path(args.out) / "manifest.json").string(), r.manifest.shards.size(),
               r.manifest.frames());
  if (!r.failures.empty()) {
    throw core::Error(std::to_string(r.failures.size()) + " of " + std::to_string(r.sources) + " source(s) failed (the others were written): " +
                      r.failures.front() + (r.failures.size() > 1 ? " (and more in the log above)" : ""));
  }
}

struct ImportArgs {
  std::vector<std::string> inputs;
  std::string out, grid;
  int64_t vocab = 1024;
  double fps = 0;
  bool force = false;
};

// "8x16" -> {8, 16}.
std::pair<int64_t, int64_t> parse_grid(const std::string& text) {
  const auto x = text.find('x');
  try {
    size_t used_h = 0, used_w = 0;
    if (x != std::string::npos) {
      const int64_t h = std::stoll(text.substr(0, x), &used_h), w = std::stoll(text.substr(x + 1), &used_w);
      if (used_h == x && used_w == text.size() - x - 1 && h > 0 && w > 0) return {h, w};
    }
  } catch (const std::exception&) {
  }
  throw core::Error("wm tokens import: --grid " + text + " is not HEIGHTxWIDTH with positive numbers (e.g. 8x16)");
}

void run_import(const ImportArgs& args) {
  core::init_logging({}, {}, /*rank=*/0);
  dataloader::TokenImportOptions options;
  std::tie(options.grid_height, options.grid_width) = parse_grid(args.grid);
  options.vocab_size = args.vocab;
  options.fps = args.fps;
  options.force = args.force;
  const std::vector<std::filesystem::path> inputs(args.inputs.begin(), args.inputs.end());
  const dataloader::TokenImportResult r = dataloader::import_tokens(inputs, args.out, options);
  spdlog::info("imported {} file(s), {} frames ({}x{} tokens of {}); {} already done; {} skipped; {} now lists {} shards, {} frames", r.written,
               r.frames, options.grid_height, options.grid_width, options.vocab_size, r.already_done, r.failures.size(),
               (std::filesystem::path(args.out) / "manifest.json").string(), r.manifest.shards.size(), r.manifest.frames());
  if (!r.failures.empty()) {
    throw core::Error(std::to_string(r.failures.size()) + " input(s) skipped (the others were imported): " + r.failures.front() +
                      (r.failures.size() > 1 ? " (and more in the log above)" : ""));
  }
}

struct InfoArgs {
  std::string dir;
  bool json = false;
};

void run_info(const InfoArgs& args) {
  const dataloader::TokenManifest manifest = dataloader::read_token_manifest(args.dir);
  const auto& t = manifest.tokenizer;
  at::Tensor counts = torch::zeros({t.vocab_size}, torch::kInt64);
  std::vector<std::string> problems;
  for (const auto& shard : manifest.shards) {
    const std::string problem = dataloader::verify_token_shard(args.dir, manifest, shard);
    if (!problem.empty()) {
      problems.push_back(problem);
      continue;
    }
    const at::Tensor tokens = core::read_npy(std::filesystem::path(args.dir) / shard.name / "tokens.npy");
    counts += torch::bincount(tokens.flatten().to(torch::kInt64), {}, t.vocab_size);
  }
  const int64_t total = counts.sum().item<int64_t>();
  const int64_t used = counts.gt(0).sum().item<int64_t>();
  const at::Tensor p = counts.to(torch::kFloat64) / std::max<double>(1.0, static_cast<double>(total));
  const double entropy = -(p * torch::log2(p.clamp_min(1e-300))).sum().item<double>();  // bits per token
  const int64_t top = total > 0 ? counts.argmax().item<int64_t>() : 0;
  const double top_share = total > 0 ? counts[top].item<double>() / static_cast<double>(total) : 0.0;

  if (args.json) {
    nlohmann::ordered_json j = {{"dir", args.dir},
                                {"shards", manifest.shards.size()},
                                {"frames", manifest.frames()},
                                {"tokens", total},
                                {"grid", {t.grid_height, t.grid_width}},
                                {"vocab_size", t.vocab_size},
                                {"tokenizer_hash", t.hash},
                                {"codes_used", used},
                                {"entropy_bits", entropy},
                                {"perplexity", std::exp2(entropy)},
                                {"top_code", top},
                                {"top_code_share", top_share},
                                {"sound_shards", manifest.shards.size() - problems.size()},
                                {"problems", problems}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << args.dir << ": " << manifest.shards.size() << " shards, " << manifest.frames() << " frames, " << total
              << " tokens checked (grid " << t.grid_height << "x" << t.grid_width << ", vocabulary " << t.vocab_size << ", tokenizer "
              << t.hash.substr(0, 12) << ")\n";
    std::cout << "codes used: " << used << " of " << t.vocab_size << " (" << fmt::format("{:.1f}", 100.0 * used / t.vocab_size)
              << "%); entropy " << fmt::format("{:.2f}", entropy) << " bits/token (perplexity " << fmt::format("{:.0f}", std::exp2(entropy))
              << "); most frequent code " << top << " (" << fmt::format("{:.2f}", 100 * top_share) << "%)\n";
    std::cout << "integrity: " << manifest.shards.size() - problems.size() << " of " << manifest.shards.size() << " shards sound\n";
    for (const auto& problem : problems) std::cout << "  " << problem << "\n";
  }
  if (!problems.empty()) {
    throw core::Error(std::to_string(problems.size()) + " of " + std::to_string(manifest.shards.size()) +
                      " shards failed the integrity check: " + problems.front());
  }
}

struct DecodeArgs {
  std::string shard, tokenizer, out;
  double fps = 0;
  std::string device = "auto";
};

void run_decode(const DecodeArgs& args) {
  const std::filesystem::path dir(args.shard);
  const auto meta = dataloader::read_shard_meta(dir);
  if (!meta) throw core::Error(dir.string() + " is not a token shard (no readable meta.json)");
  const c10::Device device = core::resolve_device(args.device);
  const tokenizer::LoadedTokenizer tok = tokenizer::load_tokenizer(resolve_checkpoint(args.tokenizer, "tokenizer"), device);
  if (tok.content_hash != meta->tokenizer_hash) {
    throw core::Error(dir.string() + " was made by tokenizer " + meta->tokenizer_hash.substr(0, 12) + ", but " + args.tokenizer +
                      " is " + tok.content_hash.substr(0, 12) + " (decode with the checkpoint that made it)");
  }
  const at::Tensor tokens = core::read_npy(dir / "tokens.npy").to(torch::kInt64);  // [T, h, w]
  const auto& o = tok.model->options();
  viz::VideoWriterOptions video;
  video.fps = args.fps > 0 ? args.fps : (meta->fps > 0 ? meta->fps : 10.0);
  viz::VideoWriter writer(args.out, o.height, o.width, video);
  tokenizer::VQModel model = tok.model;
  for (int64_t start = 0; start < tokens.size(0); start += 64) {
    const at::Tensor frames = model->decode(tokens.narrow(0, start, std::min<int64_t>(64, tokens.size(0) - start))).cpu().contiguous();
    for (int64_t i = 0; i < frames.size(0); ++i) writer.write(frames[i].data_ptr<uint8_t>());
  }
  writer.close();
  spdlog::info("decoded {} frames of {} into {}", tokens.size(0), dir.string(), args.out);
}

}  // namespace

void add_tokens_command(CLI::App& app) {
  CLI::App* tokens = app.add_subcommand("tokens", "Token shards: dump datasets through a tokenizer, inspect, decode");
  tokens->require_subcommand(1);

  auto dump = std::make_shared<DumpArgs>();
  CLI::App* dump_cmd = tokens->add_subcommand("dump", "Tokenize videos, image folders and episode stores into token shards");
  dump_cmd->add_option("inputs", dump->inputs, "videos, image folders, episode stores, or folders of them; and key=value overrides")
      ->required();
  dump_cmd->add_option("--tokenizer,-t", dump->tokenizer, "tokenizer checkpoint, or a run folder (its newest tokenizer checkpoint)")->required();
  dump_cmd->add_option("--out,-o", dump->out, "output folder (one shard folder per source, plus manifest.json)")->required();
  dump_cmd->add_option("--config,-c", dump->config_file, "YAML config (its run: and dataset: sections)");
  dump_cmd->add_option("--batch", dump->batch, "frames per encode call; 0 = 16 on CPU, 256 on GPU")->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{65536}));
  dump_cmd->add_option("--decode-threads", dump->decode_threads, "sources decoded at once")->capture_default_str()->check(CLI::Range(1, 256));
  dump_cmd->add_flag("--force", dump->force, "redo sources already dumped with this tokenizer");
  dump_cmd->callback([dump] { run_dump(*dump); });

  auto import = std::make_shared<ImportArgs>();
  CLI::App* import_cmd = tokens->add_subcommand("import", "Token arrays made elsewhere (.npy, [T, h*w] or [T, h, w]) into token shards");
  import_cmd->add_option("inputs", import->inputs, ".npy token files or folders of them (sidecars X.actions.npy, X.rewards.npy, X.dones.npy)")
      ->required();
  import_cmd->add_option("--out,-o", import->out, "output folder (one shard folder per file, plus manifest.json)")->required();
  import_cmd->add_option("--grid", import->grid, "the tokens' grid, HEIGHTxWIDTH (commaVQ: 8x16)")->required();
  import_cmd->add_option("--vocab", import->vocab, "vocabulary size: ids are 0..vocab-1")->capture_default_str();
  import_cmd->add_option("--fps", import->fps, "frame rate recorded in each shard (0: unknown)")->check(CLI::Range(0.0, 1000.0));
  import_cmd->add_flag("--force", import->force, "re-import files imported before");
  import_cmd->callback([import] { run_import(*import); });

  auto info = std::make_shared<InfoArgs>();
  CLI::App* info_cmd = tokens->add_subcommand("info", "Counts, code usage and entropy, and an integrity check of every shard");
  info_cmd->add_option("dir", info->dir, "a folder written by wm tokens dump")->required();
  info_cmd->add_flag("--json", info->json, "one JSON object");
  info_cmd->callback([info] { run_info(*info); });

  auto decode = std::make_shared<DecodeArgs>();
  CLI::App* decode_cmd = tokens->add_subcommand("decode", "Decode one shard's tokens back into a video");
  decode_cmd->add_option("shard", decode->shard, "a shard folder (DIR/NAME)")->required();
  decode_cmd->add_option("--tokenizer,-t", decode->tokenizer, "the tokenizer checkpoint that made the shard, or its run folder")->required();
  decode_cmd->add_option("--out,-o", decode->out, "video file to write (.mp4, .mkv, .avi)")->required();
  decode_cmd->add_option("--fps", decode->fps, "frame rate; default: the source's")->check(CLI::Range(0.0, 1000.0));
  decode_cmd->add_option("--device", decode->device, "auto, cpu, cuda, cuda:<i>")->capture_default_str();
  decode_cmd->callback([decode] { run_decode(*decode); });
}

}  // namespace wm::tools
