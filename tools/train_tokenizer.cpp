#include "tools/train_tokenizer.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <memory>

#include "core/train_loop.h"
#include "dataloader/window_sampler.h"
#include "tokenizer/tokenizer_trainer.h"
#include "tools/tokenizer_data.h"
#include "tools/training_run.h"
#include "tools/wm_config.h"

namespace wm::tools {

void train_tokenizer(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start) {
  const LoadedConfig loaded = load_wm_config(config_file, overrides);
  const WmConfig& config = loaded.config;
  core::RunContext run = open_training_run(config, loaded.yaml);
  const c10::Device device = training_device(config);
  const auto& options = config.tokenizer_train;

  // Data: the training part and the held-out tail of every episode.
  const TokenizerData data(config, run.dir().root());
  std::unique_ptr<dataloader::PrefetchingSampler> batches;  // made once the step is known (after --resume)

  tokenizer::TokenizerTrainer trainer(tokenizer::VQModel(config.tokenizer), options, device, config.run.precision);
  int64_t frames_seen = 0;
  const double loop_start_s = run.elapsed_s();  // frames/s counts the training loop only
  core::TrainPhase phase{.name = "tokenizer",
                         .options = &options,
                         .step = [&] { return trainer.step(); },
                         .train_step =
                             [&] {
                               const torch::Tensor frames = frames_of(batches->next());
                               core::Scalars scalars = trainer.train_step(frames);
                               frames_seen += frames.size(0);
                               scalars.emplace_back("tokenizer/frames_per_s", static_cast<double>(frames_seen) / (run.elapsed_s() - loop_start_s));
                               return scalars;
                             },
                         .evaluate = {},
                         .best_metric = "tokenizer/holdout_psnr_db",
                         .best_is_highest = true,
                         .save = [&](core::CheckpointWriter& writer) { trainer.save(writer); },
                         .restore = [&](const core::Checkpoint& checkpoint) { trainer.restore(checkpoint); }};
  if (data.holdout_frames().defined()) {
    phase.evaluate = [&] {
      std::string line;
      core::Scalars scalars = evaluate_tokenizer(trainer, data, &line);
      spdlog::info("step {}: {}", trainer.step(), line);
      return scalars;
    };
  }
  // Once everything that reads the inputs has succeeded: a command that fails on its data or
  // model, or is refused here, leaves the run's checkpoints and configs as they were.
  core::claim_phase(run, "tokenizer", start);
  run.write_config(loaded.yaml, "train_tokenizer");
  if (start == core::PhaseStart::kResume) core::resume_phase(run, phase);
  trainer.share_across(run.shared_ranks());
  batches = phase_batches(run, data.train_part(), data.sampling(options.batch_size), trainer.step(), /*depth=*/3);

  spdlog::info("training the tokenizer ({}x{} -> {}x{} tokens of {}) on {} ({} episodes, {} held out) on {}",
               config.tokenizer.height, config.tokenizer.width, config.tokenizer.grid_height(), config.tokenizer.grid_width(),
               config.tokenizer.vocab_size, data.describe_sources(), data.train_part()->num_episodes(), data.holdout_episodes(),
               device.str());
  core::run_phase(run, phase, options.steps);
  spdlog::info("done at step {} after {:.0f} s", trainer.step(), run.elapsed_s());
}

}  // namespace wm::tools
