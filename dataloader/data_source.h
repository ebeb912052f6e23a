// Where trainers get steps from: an episode store (a folder with manifest.json or ep_*
// folders) or a video dataset (anything else), split per episode into a training part and a
// held-out tail.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "core/config_schema.h"
#include "dataloader/video_dataset.h"
#include "dataloader/window_source.h"

namespace wm::dataloader {

struct DataOptions {
  std::string path;               // episode store or video dataset; empty: <run>/episodes
  double holdout_fraction = 0.2;  // the last 20% of every episode is held out for evaluation
};

void describe(core::ConfigSchema& schema, DataOptions& data);

std::shared_ptr<WindowSource> open_source(const std::filesystem::path& path, const VideoDatasetOptions& video);

// A view of each episode's first (1 - fraction) steps (training) or its last `fraction`
// (held out). Episodes left with no steps in the part are dropped.
class SplitSource : public WindowSource {
 public:
  enum class Part { kTrain, kHoldout };
  SplitSource(std::shared_ptr<const WindowSource> source, double fraction, Part part);

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
    int64_t episode, first, length;
  };
  std::shared_ptr<const WindowSource> source_;
  std::vector<Range> episodes_;
};

}  // namespace wm::dataloader
