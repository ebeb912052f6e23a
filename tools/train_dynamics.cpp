#include "tools/train_dynamics.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <functional>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/progress.h"
#include "core/run_dir.h"
#include "dataloader/data_source.h"
#include "dataloader/token_shard_source.h"
#include "dataloader/token_shards.h"
#include "dataloader/window_sampler.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/token_baselines.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/checkpoint_paths.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

// Window batches -> dynamics batches: token grids as they are, frames through the tokenizer.
using Tokenize = std::function<torch::Tensor(const torch::Tensor& frames)>;  // uint8 [N, H, W, 3] -> [N, h, w]

dynamics::DynamicsBatch to_dynamics_batch(const dataloader::WindowBatch& w, const Tokenize& tokenize) {
  const int64_t B = w.observations.size(0), L = w.observations.size(1);
  torch::Tensor tokens;
  if (w.observations.scalar_type() == torch::kShort) {
    tokens = w.observations.reshape({B, L, -1}).to(torch::kInt64);  // [B, L, h, w] -> [B, L, K]
  } else {
    const auto& s = w.observations.sizes();
    // encode() runs in inference mode; its tokens are copied out so autograd may save them.
    tokens = tokenize(w.observations.reshape({B * L, s[2], s[3], s[4]})).reshape({B, L, -1}).to(torch::kCPU, torch::kInt64).clone();
  }
  return {tokens, w.actions, w.rewards, w.dones, w.mask};
}

// The options the data fixes: tokens per frame and vocabulary (from the shards' manifest or
// the tokenizer), and the action space.
void fit_options_to_data(dynamics::DynamicsOptions& o, int64_t tokens_per_frame, int64_t vocab_size, const dataloader::WindowSource& source) {
  o.tokens_per_frame = tokens_per_frame;
  o.vocab_size = vocab_size;
  if (source.action_dim() > 0) {
    o.action_dim = source.action_dim();
    o.num_actions = 0;
    return;
  }
  o.action_dim = 0;
  const int64_t used = source.discrete_action_count();
  if (o.num_actions == 0) o.num_actions = used;
  if (o.num_actions == 0) throw core::Error("the data has discrete actions but does not say how many: set dynamics.num_actions");
  if (used > o.num_actions) {
    throw core::Error("the data uses " + std::to_string(used) + " discrete actions but dynamics.num_actions is " + std::to_string(o.num_actions));
  }
}

}  // namespace

void train_dynamics(const std::string& config_file, const std::vector<std::string>& overrides, bool resume) {
  const LoadedConfig loaded = load_wm_config(config_file, overrides);
  WmConfig config = loaded.config;
  core::RunDir run(config.run);
  core::init_logging(config.log, run.logs(), /*rank=*/0);
  core::configure_threads(config.run.threads, /*local_world_size=*/1);
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));
  const c10::Device device = core::resolve_device(config.run.device);
  const auto& train_options = config.dynamics_train;

  // Data: token shards, or frames and a tokenizer.
  const std::filesystem::path path = config.data.path.empty() ? run.root() / "tokens" : std::filesystem::path(config.data.path);
  std::shared_ptr<dataloader::WindowSource> source;
  Tokenize tokenize;
  tokenizer::VQModel tokenizer_model{nullptr};
  if (dataloader::is_token_dump(path)) {
    auto shards = std::make_shared<dataloader::TokenShardSource>(path);
    const auto& t = shards->manifest().tokenizer;
    fit_options_to_data(config.dynamics, t.grid_height * t.grid_width, t.vocab_size, *shards);
    source = shards;
  } else {
    if (train_options.tokenizer.empty()) {
      throw core::Error(path.string() + " holds frames, not token shards: set dynamics_train.tokenizer to a tokenizer checkpoint, "
                        "or tokenize it first with 'wm tokens dump'");
    }
    const auto loaded_tokenizer = tokenizer::load_tokenizer(resolve_checkpoint(train_options.tokenizer, "tokenizer"), device);
    tokenizer_model = loaded_tokenizer.model;
    tokenize = [&](const torch::Tensor& frames) { return tokenizer_model->encode(frames); };
    source = dataloader::open_source(path, config.dataset.video);
    const auto& t = tokenizer_model->options();
    fit_options_to_data(config.dynamics, t.tokens_per_frame(), t.vocab_size, *source);
  }
  core::ConfigSchema schema;
  describe(schema, config);
  run.write_config(core::config_to_yaml(schema));  // as run: with the options the data fixed

  using Split = dataloader::SplitSource;
  auto train_part = std::make_shared<Split>(source, config.data.holdout_fraction, Split::Part::kTrain);
  auto holdout_part = std::make_shared<Split>(source, config.data.holdout_fraction, Split::Part::kHoldout);
  dataloader::WindowSamplerOptions sampling;
  sampling.window = config.dynamics.context_steps;
  sampling.batch = train_options.batch_size;
  sampling.seed = static_cast<uint64_t>(config.run.seed);
  dataloader::PrefetchingSampler batches(dataloader::WindowSampler(train_part, sampling), /*depth=*/3);

  // Fixed held-out batches, and the baselines fit on training windows.
  std::vector<dynamics::DynamicsBatch> holdout;
  dynamics::TokenBaselineFit baselines(config.dynamics.vocab_size);
  if (holdout_part->num_episodes() > 0) {
    dataloader::WindowSamplerOptions eval_sampling = sampling;
    eval_sampling.seed = 1234567;
    dataloader::WindowSampler eval_sampler(holdout_part, eval_sampling);
    for (int64_t i = 0; i < train_options.eval_batches; ++i) holdout.push_back(to_dynamics_batch(eval_sampler.sample(), tokenize));
    dataloader::WindowSampler fit_sampler(train_part, eval_sampling);
    for (int64_t i = 0; i < std::max<int64_t>(16, train_options.eval_batches); ++i) baselines.add_training(to_dynamics_batch(fit_sampler.sample(), tokenize));
  }

  dynamics::DynamicsTrainer trainer(dynamics::WorldModel(config.dynamics), train_options, device, config.run.precision);
  core::CheckpointDir checkpoints(run.checkpoints(), config.checkpoint.keep_last);
  if (resume) {
    if (auto checkpoint = checkpoints.load_latest_valid("dynamics")) {
      trainer.restore(*checkpoint);
      checkpoint->restore_rng_states();
      spdlog::info("resumed from {} at step {}", checkpoint->path().string(), trainer.step());
    } else {
      spdlog::warn("--resume: no valid dynamics checkpoint in {}; starting from scratch", run.checkpoints().string());
    }
  }
  auto save = [&] {
    core::CheckpointWriter writer;
    trainer.save(writer);
    writer.set_config_yaml(core::config_to_yaml(schema));
    writer.capture_rng_states();
    checkpoints.save(writer, "dynamics", trainer.step());
  };

  const auto& o = config.dynamics;
  int64_t parameters = 0;
  for (const auto& p : trainer.model()->parameters()) parameters += p.numel();
  spdlog::info("training the dynamics model ({} layers x {}, {} heads, {} steps x {} positions, {:.2f} M parameters, {}) on {} "
               "({} episodes, {} held out) on {}",
               o.layers, o.width, o.heads, o.context_steps, o.positions_per_step(), static_cast<double>(parameters) / 1e6,
               o.discrete_actions() ? std::to_string(o.num_actions) + " discrete actions" : std::to_string(o.action_dim) + "-d actions",
               path.string(), train_part->num_episodes(), holdout_part->num_episodes(), device.str());
  core::MetricsWriter metrics(run.root(), config.log.tensorboard);
  core::ProgressBar progress("dynamics", train_options.steps - trainer.step(), "step");
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  auto evaluate = [&] {
    core::Scalars scalars = trainer.evaluate(holdout);
    scalars.emplace_back("time_s", elapsed());
    metrics.write(trainer.step(), scalars);
    double bits = 0, accuracy = 0;
    for (const auto& [name, value] : scalars) {
      if (name == "dynamics/holdout_next_frame_bits") bits = value;
      if (name == "dynamics/holdout_next_frame_accuracy") accuracy = value;
    }
    spdlog::info("step {}: held-out next-frame {:.3f} bits/token, accuracy {:.1f}%", trainer.step(), bits, 100 * accuracy);
  };
  while (trainer.step() < train_options.steps && (train_options.time_budget_s <= 0 || elapsed() < train_options.time_budget_s)) {
    core::Scalars scalars = trainer.train_step(to_dynamics_batch(batches.next(), tokenize));
    progress.advance();
    const int64_t step = trainer.step();
    if (step % config.log.every_steps == 0) {
      scalars.emplace_back("time_s", elapsed());
      metrics.write(step, scalars);
    }
    if (!holdout.empty() && step % train_options.eval_every == 0) evaluate();
    if (step % config.checkpoint.every_steps == 0) save();
  }
  progress.finish();
  if (!holdout.empty()) {
    evaluate();
    const dynamics::TokenBaselines b = baselines.evaluate(holdout);
    metrics.write(trainer.step(), {{"dynamics/holdout_unigram_bits", b.unigram_bits},
                                   {"dynamics/holdout_copy_bits", b.copy_bits},
                                   {"dynamics/holdout_copy_accuracy", b.copy_accuracy}});
    spdlog::info("baselines on the same held-out tokens: unigram {:.3f} bits/token; copy the previous frame {:.3f} bits/token "
                 "(accuracy {:.1f}%)",
                 b.unigram_bits, b.copy_bits, 100 * b.copy_accuracy);
  }
  save();
  spdlog::info("done at step {} after {:.0f} s", trainer.step(), elapsed());
}

}  // namespace wm::tools
