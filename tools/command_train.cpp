// wm train tokenizer --config C [--resume]: trains the VQ tokenizer on frames of an episode
// store or a video dataset, with held-out evaluation, metrics and checkpoints.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <memory>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/progress.h"
#include "core/run_dir.h"
#include "dataloader/data_source.h"
#include "dataloader/window_sampler.h"
#include "tokenizer/tokenizer_trainer.h"
#include "tools/commands.h"
#include "tools/train_dynamics.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

struct TrainArgs {
  std::string config_file;
  std::vector<std::string> overrides;
  bool resume = false;
};

// Frames [B, H, W, 3] from a batch of one-step windows.
torch::Tensor frames_of(const dataloader::WindowBatch& batch) { return batch.observations.select(1, 0); }

void train_tokenizer(const TrainArgs& args) {
  const LoadedConfig loaded = load_wm_config(args.config_file, args.overrides);
  const WmConfig& config = loaded.config;
  core::RunDir run(config.run);
  run.write_config(loaded.yaml);
  core::init_logging(config.log, run.logs(), /*rank=*/0);
  core::configure_threads(config.run.threads, /*local_world_size=*/1);
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));
  const c10::Device device = core::resolve_device(config.run.device);

  // Data: the training part and the held-out tail of every episode.
  const std::filesystem::path path = config.data.path.empty() ? run.root() / "episodes" : std::filesystem::path(config.data.path);
  auto source = dataloader::open_source(path, config.dataset.video);
  const auto shape = source->observation_shape();
  if (source->observation_dtype() != at::kByte || shape.size() != 3 || shape[0] != config.tokenizer.height || shape[1] != config.tokenizer.width) {
    std::string shape_text;
    for (int64_t d : shape) shape_text += (shape_text.empty() ? "" : "x") + std::to_string(d);
    throw core::Error("frames of " + path.string() + " are " + shape_text + " but tokenizer.height/width say " +
                      std::to_string(config.tokenizer.height) + "x" + std::to_string(config.tokenizer.width) +
                      " (set those, or dataset.height/width for videos)");
  }
  using Split = dataloader::SplitSource;
  auto train_part = std::make_shared<Split>(source, config.data.holdout_fraction, Split::Part::kTrain);
  auto holdout_part = std::make_shared<Split>(source, config.data.holdout_fraction, Split::Part::kHoldout);
  dataloader::WindowSamplerOptions sampling;
  sampling.window = 1;
  sampling.batch = config.tokenizer_train.batch_size;
  sampling.seed = static_cast<uint64_t>(config.run.seed);
  dataloader::PrefetchingSampler batches(dataloader::WindowSampler(train_part, sampling), /*depth=*/3);
  torch::Tensor holdout_frames;
  if (holdout_part->num_episodes() > 0) {
    dataloader::WindowSamplerOptions eval_sampling = sampling;
    eval_sampling.batch = config.tokenizer_train.eval_frames;
    eval_sampling.seed = 1234567;  // the same held-out frames at every evaluation
    holdout_frames = frames_of(dataloader::WindowSampler(holdout_part, eval_sampling).sample());
  }

  tokenizer::TokenizerTrainer trainer(tokenizer::VQModel(config.tokenizer), config.tokenizer_train, device, config.run.precision);
  core::CheckpointDir checkpoints(run.checkpoints(), config.checkpoint.keep_last);
  if (args.resume) {
    if (auto checkpoint = checkpoints.load_latest_valid("tokenizer")) {
      trainer.restore(*checkpoint);
      checkpoint->restore_rng_states();
      spdlog::info("resumed from {} at step {}", checkpoint->path().string(), trainer.step());
    } else {
      spdlog::warn("--resume: no valid tokenizer checkpoint in {}; starting from scratch", run.checkpoints().string());
    }
  }
  auto save = [&] {
    core::CheckpointWriter writer;
    trainer.save(writer);
    writer.set_config_yaml(loaded.yaml);
    writer.capture_rng_states();
    checkpoints.save(writer, "tokenizer", trainer.step());
  };

  core::MetricsWriter metrics(run.root(), config.log.tensorboard);
  const auto& options = config.tokenizer_train;
  spdlog::info("training the tokenizer ({}x{} -> {}x{} tokens of {}) on {} ({} episodes, {} held out) on {}",
               config.tokenizer.height, config.tokenizer.width, config.tokenizer.grid_height(), config.tokenizer.grid_width(),
               config.tokenizer.vocab_size, path.string(), train_part->num_episodes(), holdout_part->num_episodes(), device.str());
  core::ProgressBar progress("tokenizer", options.steps - trainer.step(), "step");
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  int64_t frames_seen = 0;
  while (trainer.step() < options.steps && (options.time_budget_s <= 0 || elapsed() < options.time_budget_s)) {
    const torch::Tensor frames = frames_of(batches.next());
    core::Scalars scalars = trainer.train_step(frames);
    frames_seen += frames.size(0);
    progress.advance();
    const int64_t step = trainer.step();
    if (step % config.log.every_steps == 0) {
      scalars.emplace_back("tokenizer/frames_per_s", static_cast<double>(frames_seen) / elapsed());
      scalars.emplace_back("time_s", elapsed());
      metrics.write(step, scalars);
    }
    if (holdout_frames.defined() && (step % options.eval_every == 0 || step == options.steps)) {
      const auto [psnr, usage] = trainer.evaluate(holdout_frames);
      metrics.write(step, {{"tokenizer/holdout_psnr_db", psnr}, {"tokenizer/holdout_code_usage", usage}, {"time_s", elapsed()}});
      spdlog::info("step {}: held-out PSNR {:.2f} dB, codes used {:.1f}%", step, psnr, 100 * usage);
    }
    if (step % config.checkpoint.every_steps == 0) save();
  }
  progress.finish();
  if (holdout_frames.defined()) {
    const auto [psnr, usage] = trainer.evaluate(holdout_frames);
    metrics.write(trainer.step(), {{"tokenizer/holdout_psnr_db", psnr}, {"tokenizer/holdout_code_usage", usage}, {"time_s", elapsed()}});
    spdlog::info("done at step {} after {:.0f} s: held-out PSNR {:.2f} dB, codes used {:.1f}%", trainer.step(), elapsed(), psnr, 100 * usage);
  }
  save();
}

}  // namespace

void add_train_command(CLI::App& app) {
  CLI::App* train = app.add_subcommand("train", "Train a component (tokenizer, dynamics; the policy comes next)");
  train->require_subcommand(1);
  auto args = std::make_shared<TrainArgs>();
  CLI::App* tokenizer = train->add_subcommand("tokenizer", "Train the VQ tokenizer on frames");
  tokenizer->add_option("--config,-c", args->config_file, "YAML config file");
  tokenizer->add_flag("--resume", args->resume, "continue from the newest valid tokenizer checkpoint of the run");
  tokenizer->add_option("overrides", args->overrides, "key.path=value overrides");
  tokenizer->callback([args] { train_tokenizer(*args); });

  auto dynamics_args = std::make_shared<TrainArgs>();
  CLI::App* dynamics = train->add_subcommand("dynamics", "Train the dynamics model on token shards (or frames and a tokenizer)");
  dynamics->add_option("--config,-c", dynamics_args->config_file, "YAML config file");
  dynamics->add_flag("--resume", dynamics_args->resume, "continue from the newest valid dynamics checkpoint of the run");
  dynamics->add_option("overrides", dynamics_args->overrides, "key.path=value overrides");
  dynamics->callback([dynamics_args] { train_dynamics(dynamics_args->config_file, dynamics_args->overrides, dynamics_args->resume); });
}

}  // namespace wm::tools
