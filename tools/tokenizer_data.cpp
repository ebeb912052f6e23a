#include "tools/tokenizer_data.h"

#include "core/error.h"

namespace wm::tools {

torch::Tensor frames_of(const dataloader::WindowBatch& batch) { return batch.observations.select(1, 0); }

TokenizerData::TokenizerData(const WmConfig& config, const std::filesystem::path& run_root)
    : path_(config.data.path.empty() ? run_root / "episodes" : std::filesystem::path(config.data.path)),
      seed_(static_cast<uint64_t>(config.run.seed)) {
  auto source = dataloader::open_source(path_, config.dataset.video);
  const auto shape = source->observation_shape();
  if (source->observation_dtype() != at::kByte || shape.size() != 3 || shape[0] != config.tokenizer.height || shape[1] != config.tokenizer.width) {
    std::string shape_text;
    for (int64_t d : shape) shape_text += (shape_text.empty() ? "" : "x") + std::to_string(d);
    throw core::Error("frames of " + path_.string() + " are " + shape_text + " but tokenizer.height/width say " +
                      std::to_string(config.tokenizer.height) + "x" + std::to_string(config.tokenizer.width) +
                      " (set those, or dataset.height/width for videos)");
  }
  using Split = dataloader::SplitSource;
  train_part_ = std::make_shared<Split>(source, config.data.holdout_fraction, Split::Part::kTrain);
  holdout_part_ = std::make_shared<Split>(source, config.data.holdout_fraction, Split::Part::kHoldout);
  if (holdout_part_->num_episodes() > 0) {
    dataloader::WindowSamplerOptions eval_sampling = sampling(config.tokenizer_train.eval_frames);
    eval_sampling.seed = 1234567;  // the same held-out frames at every evaluation
    holdout_frames_ = frames_of(dataloader::WindowSampler(holdout_part_, eval_sampling).sample());
  }
}

dataloader::WindowSamplerOptions TokenizerData::sampling(int64_t batch) const {
  dataloader::WindowSamplerOptions options;
  options.window = 1;
  options.batch = batch;
  options.seed = seed_;
  return options;
}

}  // namespace wm::tools
