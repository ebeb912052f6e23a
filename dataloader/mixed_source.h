// Several sources as one (a tokenizer trained on driving-game episodes and real video at
// once): their episodes one after another, each source supplying its share of the sampled
// windows. Frames must agree in shape and type; actions pass through when every source has
// the same kind, else the mixture is frames only (actions read as zeros: the tokenizer needs
// none).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataloader/window_source.h"

namespace wm::dataloader {

class MixedSource : public WindowSource {
 public:
  struct Part {
    std::string name;                            // for errors and per-source figures
    std::shared_ptr<const WindowSource> source;
    double weight = 0;                           // share of the windows (normalized); all 0: each by its steps, as one source
  };
  // Throws wm::core::Error naming the parts whose frames differ, or a weight that is not a
  // finite number > 0 (or 0 for all).
  explicit MixedSource(std::vector<Part> parts);

  int64_t num_episodes() const override { return static_cast<int64_t>(episodes_.size()); }
  int64_t episode_length(int64_t episode) const override;
  std::vector<int64_t> observation_shape() const override { return parts_.front().source->observation_shape(); }
  at::ScalarType observation_dtype() const override { return parts_.front().source->observation_dtype(); }
  int64_t action_dim() const override { return frames_only_ ? 0 : parts_.front().source->action_dim(); }
  int64_t discrete_action_count() const override;
  void read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row, int64_t offset) const override;
  // Source weight x episode length / the source's steps: each source's share of the windows
  // is its weight's (empty when unweighted: by length).
  std::vector<double> episode_weights() const override;

  bool frames_only() const { return frames_only_; }

 private:
  struct Episode {
    size_t part;
    int64_t episode;
  };
  std::vector<Part> parts_;
  std::vector<Episode> episodes_;
  bool frames_only_ = false;
  bool weighted_ = false;
};

}  // namespace wm::dataloader
