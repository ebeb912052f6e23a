// The data a dynamics model trains and is evaluated on, as a run's config names it: token
// shards (wm tokens dump), or frames tokenized on the fly by a frozen tokenizer; split into
// training and held-out episodes the same way by every command that reads it (wm train
// dynamics, wm bench precision), so "held out" means the same windows everywhere.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dataloader/data_source.h"
#include "dataloader/window_sampler.h"
#include "dynamics/token_baselines.h"
#include "dynamics/world_model.h"
#include "tokenizer/vq_model.h"
#include "tools/wm_config.h"

namespace wm::tools {

class DynamicsData {
 public:
  // Opens config.data.path (or <run_root>/tokens) and fits config.dynamics to it: tokens per
  // frame and vocabulary (from the shards' manifest or the tokenizer), and the action space.
  // Throws wm::core::Error naming the path or key when they do not fit.
  DynamicsData(WmConfig& config, const std::filesystem::path& run_root, c10::Device device);
  // Frames data tokenized by `tokenizer` as it is (wm train all: the tokenizer in training),
  // whatever dynamics_train.tokenizer says; every frame is encoded once, here, and windows are
  // read as tokens (tools/tokenized_source.h).
  DynamicsData(WmConfig& config, const std::filesystem::path& run_root, tokenizer::VQModel tokenizer);

  const std::filesystem::path& path() const { return path_; }
  // Token shards: the content hash of the tokenizer that wrote them; frames: empty.
  const std::string& shards_tokenizer_hash() const { return shards_tokenizer_hash_; }
  const std::shared_ptr<dataloader::SplitSource>& train_part() const { return train_part_; }
  const std::shared_ptr<dataloader::SplitSource>& holdout_part() const { return holdout_part_; }

  // Windows of `window` steps (0: the model's context), `batch` at a time, seeded by the run.
  dataloader::WindowSamplerOptions sampling(int64_t batch, int64_t window = 0) const;
  // A window batch as the model reads it: token grids as they are, frames through the tokenizer.
  dynamics::DynamicsBatch to_batch(const dataloader::WindowBatch& windows) const;
  // `count` fixed held-out batches of `window` steps (0: the model's context; the same ones on
  // every call and in every command); none when nothing is held out.
  std::vector<dynamics::DynamicsBatch> holdout_batches(int64_t count, int64_t batch, int64_t window = 0) const;
  // The unigram and copy-the-previous-frame baselines, fit on training windows.
  dynamics::TokenBaselineFit fit_baselines(int64_t batches, int64_t batch) const;

 private:
  void open(WmConfig& config, c10::Device device, bool tokenize_once);

  std::filesystem::path path_;
  std::string shards_tokenizer_hash_;
  int64_t window_;
  uint64_t seed_;
  int64_t vocab_size_;
  // Frames data only. Encoding changes nothing in the model (eval, inference mode), but
  // VQModel::encode is not const.
  mutable tokenizer::VQModel tokenizer_{nullptr};
  std::shared_ptr<dataloader::SplitSource> train_part_, holdout_part_;
};

}  // namespace wm::tools
