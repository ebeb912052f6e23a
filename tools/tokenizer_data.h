// The frames a tokenizer trains on, as a run's config names them (data.path, data.paths with
// data.weights, or the run's episode store), each source split into training and held-out
// parts, with a fixed set of held-out frames per source for evaluation. Used by
// `wm train tokenizer` and each epoch of `wm train all`.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "dataloader/data_source.h"
#include "dataloader/window_sampler.h"
#include "tokenizer/tokenizer_trainer.h"
#include "tools/wm_config.h"

namespace wm::tools {

// The same held-out frames at every evaluation, and the PSNR of predicting each of them as
// their mean frame (the best constant image: a tokenizer below it has learned nothing of
// these frames).
struct HeldOutFrames {
  std::string name;            // the source ("" for a single one)
  torch::Tensor frames;        // uint8 [N, H, W, 3]
  double mean_frame_psnr_db = 0;
};

class TokenizerData {
 public:
  // Throws wm::core::Error naming the path when its frames are not the tokenizer's size, or
  // data.weights when it does not fit data.paths.
  TokenizerData(const WmConfig& config, const std::filesystem::path& run_root);

  // The source, or the first of several.
  const std::filesystem::path& path() const { return paths_.front(); }
  std::string describe_sources() const;  // "a (weight 0.7), b (weight 0.3)" or the path
  const std::shared_ptr<const dataloader::WindowSource>& train_part() const { return train_part_; }
  int64_t holdout_episodes() const { return holdout_episodes_; }
  // Single frames, `batch` at a time, seeded by the run.
  dataloader::WindowSamplerOptions sampling(int64_t batch) const;
  // All held-out frames (the sources' together); undefined when none is held out.
  const torch::Tensor& holdout_frames() const { return all_holdout_frames_; }
  double holdout_mean_frame_psnr_db() const { return all_mean_frame_psnr_db_; }
  // Per source, with several sources; empty with one.
  const std::vector<HeldOutFrames>& holdout_per_source() const { return per_source_; }

 private:
  std::vector<std::filesystem::path> paths_;
  std::vector<double> weights_;
  uint64_t seed_;
  std::shared_ptr<const dataloader::WindowSource> train_part_;
  int64_t holdout_episodes_ = 0;
  torch::Tensor all_holdout_frames_;
  double all_mean_frame_psnr_db_ = 0;
  std::vector<HeldOutFrames> per_source_;
};

// Frames [B, H, W, 3] from a batch of one-step windows.
torch::Tensor frames_of(const dataloader::WindowBatch& batch);

// PSNR in dB of predicting every frame of uint8 [N, H, W, 3] as their mean frame.
double mean_frame_psnr_db(const torch::Tensor& frames);

// The held-out evaluation: tokenizer/holdout_psnr_db and _code_usage over all held-out
// frames, tokenizer/holdout_mean_frame_psnr_db beside it, and with several sources each
// one's pair as tokenizer/holdout_psnr_db/<source> and holdout_mean_frame_psnr_db/<source>.
// `line`, when given, gets the log line. Empty when nothing is held out.
core::Scalars evaluate_tokenizer(tokenizer::TokenizerTrainer& trainer, const TokenizerData& data, std::string* line = nullptr);

}  // namespace wm::tools
