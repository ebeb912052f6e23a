#include "tools/train_dynamics.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <memory>
#include <optional>

#include "core/config.h"
#include "core/train_loop.h"
#include "dataloader/window_sampler.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/token_baselines.h"
#include "tools/dynamics_data.h"
#include "tools/training_run.h"
#include "tools/wm_config.h"

namespace wm::tools {

void train_dynamics(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start) {
  const LoadedConfig loaded = load_wm_config(config_file, overrides);
  WmConfig config = loaded.config;
  core::RunContext run = open_training_run(config, loaded.yaml);
  const c10::Device device = training_device(config);
  const auto& train_options = config.dynamics_train;

  // Data: token shards, or frames and a tokenizer; the options the data fixes are written
  // with the run's config and stored in its checkpoints.
  const DynamicsData data(config, run.dir().root(), device);
  core::ConfigSchema schema;
  describe(schema, config);
  run.set_config_yaml(core::config_to_yaml(schema));
  std::unique_ptr<dataloader::PrefetchingSampler> batches;  // made once the step is known (after --resume)

  // Fixed held-out batches, and the baselines fit on training windows.
  const std::vector<dynamics::DynamicsBatch> holdout = data.holdout_batches(train_options.eval_batches, train_options.batch_size);
  std::optional<dynamics::TokenBaselineFit> baselines;
  if (!holdout.empty()) baselines = data.fit_baselines(std::max<int64_t>(16, train_options.eval_batches), train_options.batch_size);

  dynamics::DynamicsTrainer trainer(dynamics::WorldModel(config.dynamics), train_options, device, config.run.precision);
  std::optional<std::pair<int64_t, double>> best;  // (step, held-out next-frame bits/token) of the best evaluation
  int64_t last_evaluated = 0;
  core::TrainPhase phase{.name = "dynamics",
                         .options = &train_options,
                         .step = [&] { return trainer.step(); },
                         .train_step = [&] { return trainer.train_step(data.to_batch(batches->next())); },
                         .evaluate = {},
                         .best_metric = "dynamics/holdout_next_frame_bits",
                         .save = [&](core::CheckpointWriter& writer) { trainer.save(writer); },
                         .restore = [&](const core::Checkpoint& checkpoint) { trainer.restore(checkpoint); }};
  if (!holdout.empty()) {
    phase.evaluate = [&] {
      core::Scalars scalars = trainer.evaluate(holdout);
      auto figure = [&](const std::string& name) { return core::find_scalar(scalars, "dynamics/holdout_" + name).value_or(0); };
      if (!best || figure("next_frame_bits") < best->second) best = {trainer.step(), figure("next_frame_bits")};
      last_evaluated = trainer.step();
      spdlog::info("step {}: held-out next-frame {:.3f} bits/token, accuracy {:.1f}%; on the {:.1f}% of tokens that changed {:.3f} bits, "
                   "{:.1f}%; on the unchanged {:.3f} bits, {:.1f}%",
                   trainer.step(), figure("next_frame_bits"), 100 * figure("next_frame_accuracy"), 100 * figure("next_frame_changed_share"),
                   figure("next_frame_changed_bits"), 100 * figure("next_frame_changed_accuracy"), figure("next_frame_unchanged_bits"),
                   100 * figure("next_frame_unchanged_accuracy"));
      return scalars;
    };
  }
  // Once everything that reads the inputs has succeeded: a command that fails on its data or
  // model, or is refused here, leaves the run's checkpoints and configs as they were.
  core::claim_phase(run, "dynamics", start);
  run.write_config(run.config_yaml(), "train_dynamics");
  if (start == core::PhaseStart::kResume) core::resume_phase(run, phase);
  trainer.share_across(run.shared_ranks());
  batches = phase_batches(run, data.train_part(), data.sampling(train_options.batch_size), trainer.step(), /*depth=*/3);

  const auto& o = config.dynamics;
  int64_t parameters = 0;
  for (const auto& p : trainer.model()->parameters()) parameters += p.numel();
  spdlog::info("training the dynamics model ({} layers x {}, {} heads, {} steps x {} positions, {:.2f} M parameters, {}) on {} "
               "({} episodes, {} held out) on {}",
               o.layers, o.width, o.heads, o.context_steps, o.positions_per_step(), static_cast<double>(parameters) / 1e6,
               o.discrete_actions() ? std::to_string(o.num_actions) + " discrete actions" : std::to_string(o.action_dim) + "-d actions",
               data.path().string(), data.train_part()->num_episodes(), data.holdout_part()->num_episodes(), device.str());
  // The baselines first, so the figures to beat are in the log before the first evaluation.
  std::optional<dynamics::TokenBaselines> baseline_figures;
  if (baselines) {
    const dynamics::TokenBaselines b = baselines->evaluate(holdout);
    baseline_figures = b;
    // Logged once, at the start of training: a resumed run already has them at step 0.
    if (trainer.step() == 0) run.write_metrics(0, b.scalars());
    spdlog::info("baselines on the same held-out tokens: unigram {:.3f} bits/token; copy the previous frame {:.3f} bits/token "
                 "(accuracy {:.1f}%); on the changed tokens unigram {:.3f}, copy {:.3f} bits (accuracy 0); on the unchanged "
                 "unigram {:.3f}, copy {:.3f} bits (accuracy 100%)",
                 b.unigram_bits, b.copy_bits, 100 * b.copy_accuracy, b.unigram_changed_bits, b.copy_changed_bits, b.unigram_unchanged_bits,
                 b.copy_unchanged_bits);
  }
  core::run_phase(run, phase, train_options.steps);
  if (best && baseline_figures) {
    spdlog::info("best held-out next-frame {:.3f} bits/token at step {} (last evaluation: step {}); the run's model is step {}'s; "
                 "copy the previous frame {:.3f}, unigram {:.3f}",
                 best->second, best->first, last_evaluated, trainer.step(), baseline_figures->copy_bits, baseline_figures->unigram_bits);
  }
  spdlog::info("done at step {} after {:.0f} s", trainer.step(), run.elapsed_s());
}

}  // namespace wm::tools
