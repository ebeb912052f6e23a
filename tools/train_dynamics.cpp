#include "tools/train_dynamics.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <optional>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/progress.h"
#include "core/run_dir.h"
#include "dataloader/window_sampler.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/token_baselines.h"
#include "tools/dynamics_data.h"
#include "tools/wm_config.h"

namespace wm::tools {

void train_dynamics(const std::string& config_file, const std::vector<std::string>& overrides, bool resume) {
  const LoadedConfig loaded = load_wm_config(config_file, overrides);
  WmConfig config = loaded.config;
  core::RunDir run(config.run);
  core::init_logging(config.log, run.logs(), /*rank=*/0);
  core::configure_threads(config.run.threads, /*local_world_size=*/1);
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));
  const c10::Device device = core::resolve_device(config.run.device);
  const auto& train_options = config.dynamics_train;

  // Data: token shards, or frames and a tokenizer; the options the data fixes are written
  // with the run's config.
  const DynamicsData data(config, run.root(), device);
  core::ConfigSchema schema;
  describe(schema, config);
  run.write_config(core::config_to_yaml(schema));
  dataloader::PrefetchingSampler batches(dataloader::WindowSampler(data.train_part(), data.sampling(train_options.batch_size)), /*depth=*/3);

  // Fixed held-out batches, and the baselines fit on training windows.
  const std::vector<dynamics::DynamicsBatch> holdout = data.holdout_batches(train_options.eval_batches, train_options.batch_size);
  std::optional<dynamics::TokenBaselineFit> baselines;
  if (!holdout.empty()) baselines = data.fit_baselines(std::max<int64_t>(16, train_options.eval_batches), train_options.batch_size);

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
               data.path().string(), data.train_part()->num_episodes(), data.holdout_part()->num_episodes(), device.str());
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
    core::Scalars scalars = trainer.train_step(data.to_batch(batches.next()));
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
    const dynamics::TokenBaselines b = baselines->evaluate(holdout);
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
