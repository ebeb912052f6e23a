#include "dataloader/token_shard_source.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::dataloader {

TokenShardSource::TokenShardSource(const std::filesystem::path& dir) : dir_(dir), manifest_(read_token_manifest(dir)) {
  if (manifest_.shards.empty()) throw core::Error(dir.string() + " lists no token shards (run 'wm tokens dump' first)");
  int64_t found_dim = -1;
  for (const auto& meta : manifest_.shards) {
    // Checked before training on it: the CRC the manifest recorded, the dtype and shape, token
    // ids inside the vocabulary, finite sidecars. A damaged shard is one line naming it.
    const std::string problem = verify_token_shard(dir, manifest_, meta);
    if (!problem.empty()) throw core::Error(problem + " (re-run 'wm tokens dump', or list the damage with 'wm tokens info')");
    Shard shard;
    const auto shard_dir = dir / meta.name;
    shard.tokens = std::make_unique<MappedNpy>(shard_dir / "tokens.npy");
    shard.frames = shard.tokens->header().shape.at(0);
    if (shard.frames != meta.frames) {
      throw core::Error((shard_dir / "tokens.npy").string() + " holds " + std::to_string(shard.frames) + " frames, the manifest says " +
                        std::to_string(meta.frames) + " (check it with 'wm tokens info')");
    }
    if (meta.has_actions) {
      shard.actions = std::make_unique<MappedNpy>(shard_dir / "actions.npy");
      shard.rewards = std::make_unique<MappedNpy>(shard_dir / "rewards.npy");
      shard.dones = std::make_unique<MappedNpy>(shard_dir / "dones.npy");
      const auto& shape = shard.actions->header().shape;
      const int64_t dim = shape.size() == 2 ? shape[1] : 0;
      if (found_dim >= 0 && dim != found_dim) {
        auto kind = [](int64_t d) { return d == 0 ? std::string("discrete actions") : std::to_string(d) + "-value continuous actions"; };
        throw core::Error((shard_dir / "actions.npy").string() + " holds " + kind(dim) + ", earlier shards " + kind(found_dim) +
                          " (dump sources with different action spaces into separate folders)");
      }
      found_dim = dim;
    }
    shards_.push_back(std::move(shard));
  }
  action_dim_ = std::max<int64_t>(0, found_dim);
}

int64_t TokenShardSource::discrete_action_count() const {
  if (action_dim_ != 0) return 0;
  int64_t count = 1;  // shards without actions read as action 0
  for (const auto& shard : shards_) {
    if (shard.actions && shard.frames > 0) count = std::max<int64_t>(count, shard.actions->tensor().max().item<int64_t>() + 1);
  }
  return count;
}

void TokenShardSource::read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row, int64_t offset) const {
  const Shard& s = shards_.at(episode);
  batch.observations[row].narrow(0, offset, count).copy_(s.tokens->tensor().narrow(0, start, count));
  if (s.actions) {
    batch.actions[row].narrow(0, offset, count).copy_(s.actions->tensor().narrow(0, start, count));
    batch.rewards[row].narrow(0, offset, count).copy_(s.rewards->tensor().narrow(0, start, count));
    batch.dones[row].narrow(0, offset, count).copy_(s.dones->tensor().narrow(0, start, count));
  } else {
    batch.actions[row].narrow(0, offset, count).zero_();
    batch.rewards[row].narrow(0, offset, count).zero_();
    batch.dones[row].narrow(0, offset, count).zero_();
  }
}

}  // namespace wm::dataloader
