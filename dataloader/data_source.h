// Where trainers get steps from: an episode store (a folder with manifest.json or ep_*
// folders) or a video dataset (anything else), split per episode into a training part and a
// held-out tail.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/config_schema.h"
#include "dataloader/video_dataset.h"
#include "dataloader/window_source.h"

namespace wm::dataloader {

// What is held out for evaluation:
// - tail: the last `holdout_fraction` of every episode (several recordings: each one's tail),
//   with `holdout_gap_steps` steps before it used by neither part, so the last training
//   frames are not the first held-out ones' near twins (a gap of the model's context keeps
//   every training window at least a context away from every held-out one);
// - episodes: whole episodes — the last round(fraction * N) of them in order (at least one,
//   and at least one left to train on): a held-out scene the training part never shows.
enum class Holdout { kTail, kEpisodes };

struct DataOptions {
  std::string path;               // episode store or video dataset; empty: <run>/episodes
  double holdout_fraction = 0.2;  // the last 20% of every episode is held out for evaluation
  Holdout holdout = Holdout::kTail;
  int64_t holdout_gap_steps = 0;  // tail: steps between the training part and the held-out tail
  // Several sources at once (the tokenizer; instead of `path`): each split as above, the
  // training windows mixed by `weights` (one per path; empty: each by its number of steps).
  std::vector<std::string> paths;
  std::vector<double> weights;
};

void describe(core::ConfigSchema& schema, DataOptions& data);

std::shared_ptr<WindowSource> open_source(const std::filesystem::path& path, const VideoDatasetOptions& video);

// A view of the training part or the held-out part of `source`, as `data` says (holdout,
// holdout_fraction, holdout_gap_steps). Episodes left with no steps in the part are dropped.
class SplitSource : public WindowSource {
 public:
  enum class Part { kTrain, kHoldout };
  SplitSource(std::shared_ptr<const WindowSource> source, const DataOptions& data, Part part);

  int64_t num_episodes() const override { return static_cast<int64_t>(episodes_.size()); }
  int64_t episode_length(int64_t episode) const override { return episodes_.at(episode).length; }
  std::vector<int64_t> observation_shape() const override { return source_->observation_shape(); }
  at::ScalarType observation_dtype() const override { return source_->observation_dtype(); }
  int64_t action_dim() const override { return source_->action_dim(); }
  int64_t discrete_action_count() const override { return source_->discrete_action_count(); }
  void read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row,
                  int64_t offset) const override;

 private:
  struct Range {
    int64_t episode, first, length;  // steps first .. first + length - 1 of the source's episode
  };
  std::shared_ptr<const WindowSource> source_;
  std::vector<Range> episodes_;
};

}  // namespace wm::dataloader
