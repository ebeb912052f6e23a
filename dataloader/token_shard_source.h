// Token shards (`wm tokens dump`) as a training source: each shard is an episode whose
// observations are int16 [h, w] token grids, memory-mapped, with the shard's actions,
// rewards and dones (zeros where the source had none). The window sampler draws from it as
// from an episode store.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "dataloader/mapped_npy.h"
#include "dataloader/token_shards.h"
#include "dataloader/window_source.h"

namespace wm::dataloader {

class TokenShardSource : public WindowSource {
 public:
  // Opens every shard the manifest lists. Shards must agree on the action kind; those
  // without actions get zero actions of that kind (discrete when no shard has any).
  explicit TokenShardSource(const std::filesystem::path& dir);

  const TokenManifest& manifest() const { return manifest_; }

  int64_t num_episodes() const override { return static_cast<int64_t>(shards_.size()); }
  int64_t episode_length(int64_t episode) const override { return shards_.at(episode).frames; }
  std::vector<int64_t> observation_shape() const override { return {manifest_.tokenizer.grid_height, manifest_.tokenizer.grid_width}; }
  at::ScalarType observation_dtype() const override { return at::kShort; }
  int64_t action_dim() const override { return action_dim_; }
  int64_t discrete_action_count() const override;
  void read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row, int64_t offset) const override;

 private:
  struct Shard {
    int64_t frames = 0;
    std::unique_ptr<MappedNpy> tokens, actions, rewards, dones;  // the last three null without actions
  };

  std::filesystem::path dir_;
  TokenManifest manifest_;
  std::vector<Shard> shards_;
  int64_t action_dim_ = 0;
};

}  // namespace wm::dataloader
