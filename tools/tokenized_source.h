// Frames data as token grids, tokenized once: every episode of a frame source goes through
// the (frozen) tokenizer when this is made, and windows are then read from memory. `wm train
// all` makes one per epoch after the tokenizer has trained, so the dynamics and policy phases
// read tokens instead of encoding the same frames again for every batch (each frame is drawn
// into many windows).
#pragma once

#include <memory>
#include <vector>

#include "dataloader/window_source.h"
#include "tokenizer/vq_model.h"

namespace wm::tools {

class TokenizedSource : public dataloader::WindowSource {
 public:
  // frames: a source of uint8 [H, W, 3] observations. Encodes every episode now.
  TokenizedSource(const std::shared_ptr<const dataloader::WindowSource>& frames, tokenizer::VQModel tokenizer);

  int64_t num_episodes() const override { return static_cast<int64_t>(episodes_.size()); }
  int64_t episode_length(int64_t episode) const override;
  std::vector<int64_t> observation_shape() const override { return grid_; }  // {h, w}
  at::ScalarType observation_dtype() const override;                         // int16
  int64_t action_dim() const override { return action_dim_; }
  int64_t discrete_action_count() const override { return discrete_action_count_; }
  void read_steps(int64_t episode, int64_t start, int64_t count, dataloader::WindowBatch& batch, int64_t row,
                  int64_t offset) const override;

 private:
  // One episode as a one-row window batch: tokens int16 [1, T, h, w], the rest as the frame
  // source gave them.
  std::vector<dataloader::WindowBatch> episodes_;
  std::vector<int64_t> grid_;
  int64_t action_dim_ = 0;
  int64_t discrete_action_count_ = 0;
};

}  // namespace wm::tools
