// The frames a tokenizer trains on, as a run's config names them (data.path, or the run's
// episode store), split into training and held-out episodes, with a fixed set of held-out
// frames for evaluation. Used by `wm train tokenizer` and each epoch of `wm train all`.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <memory>

#include "dataloader/data_source.h"
#include "dataloader/window_sampler.h"
#include "tools/wm_config.h"

namespace wm::tools {

class TokenizerData {
 public:
  // Throws wm::core::Error naming the path when its frames are not the tokenizer's size.
  TokenizerData(const WmConfig& config, const std::filesystem::path& run_root);

  const std::filesystem::path& path() const { return path_; }
  const std::shared_ptr<dataloader::SplitSource>& train_part() const { return train_part_; }
  const std::shared_ptr<dataloader::SplitSource>& holdout_part() const { return holdout_part_; }
  // Single frames, `batch` at a time, seeded by the run.
  dataloader::WindowSamplerOptions sampling(int64_t batch) const;
  // uint8 [N, H, W, 3]: the same held-out frames at every call; undefined when none is held out.
  const torch::Tensor& holdout_frames() const { return holdout_frames_; }

 private:
  std::filesystem::path path_;
  uint64_t seed_;
  std::shared_ptr<dataloader::SplitSource> train_part_, holdout_part_;
  torch::Tensor holdout_frames_;
};

// Frames [B, H, W, 3] from a batch of one-step windows.
torch::Tensor frames_of(const dataloader::WindowBatch& batch);

}  // namespace wm::tools
