// The episode store: a directory of episodes, one folder of .npy files each (DESIGN.md).
//
//   <dir>/manifest.json        {"format": "wm-episodes-1", "episodes": [{"name", "length",
//                               "return"}...], "frame_shape": [H, W, 3], "action_dim": 0}
//   <dir>/ep_000000/frames.npy, actions.npy, rewards.npy, dones.npy
//
// Several writers may append to one store at once (two `wm collect`, ranks of a distributed
// run): each writes an episode into its own .writing.<pid>.<n>.tmp/ folder, then, holding an
// advisory lock on <dir>/.store.lock (flock: released by the kernel even after kill -9),
// claims the next free ep_ number, renames the folder to it and rewrites the manifest from
// what is on disk. Readers only ever see whole episodes. Opening for append removes temporary
// folders whose writer process is gone, never a live writer's, and rebuilds the manifest.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataloader/episode.h"
#include "dataloader/mapped_npy.h"
#include "dataloader/window_source.h"

namespace wm::dataloader {

struct EpisodeInfo {
  std::string name;  // "ep_000012"
  int64_t length = 0;
  double total_reward = 0;
};

// Whether `path` is an episode store: a folder with manifest.json or ep_* folders.
bool is_episode_store(const std::filesystem::path& path);

class EpisodeStore : public WindowSource {
 public:
  enum class Mode { kRead, kAppend };
  // kRead: the store must exist; episodes are found by scanning for complete folders.
  // kAppend: created when missing; dead writers' leftovers are cleaned and the manifest rebuilt.
  EpisodeStore(std::filesystem::path dir, Mode mode);
  ~EpisodeStore() override;

  // Writes the episode (validated; same frame shape and action kind as the store's) and
  // returns its name. Thread-safe.
  std::string append(const Episode& episode);
  // Picks up episodes appended by another process since opening (readers of a live store).
  void refresh();

  const std::filesystem::path& dir() const { return dir_; }
  const std::vector<EpisodeInfo>& episodes() const { return episodes_; }
  int64_t total_steps() const;
  Episode load(int64_t episode) const;

  // WindowSource
  int64_t num_episodes() const override { return static_cast<int64_t>(episodes_.size()); }
  int64_t episode_length(int64_t episode) const override { return episodes_.at(episode).length; }
  std::vector<int64_t> observation_shape() const override { return frame_shape_; }
  at::ScalarType observation_dtype() const override { return at::kByte; }
  int64_t action_dim() const override { return action_dim_; }
  int64_t discrete_action_count() const override;
  void read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row,
                  int64_t offset) const override;

 private:
  struct Mapped;  // the four mapped arrays of one episode
  void scan();
  // Under the store lock: episodes other writers completed since the last look, appended to
  // episodes_ (existing entries and their mappings stay).
  void pick_up_new_episodes();
  // Inspects one complete episode folder into `into` (a damaged one is skipped with a warning);
  // the first sets the store's frame shape and action kind, a later one that differs throws.
  void add_episode_folder(const std::filesystem::path& path, const std::map<std::string, std::pair<int64_t, double>>& known,
                          std::vector<EpisodeInfo>& into);
  void write_manifest() const;
  const Mapped& mapped(int64_t episode) const;

  std::filesystem::path dir_;
  Mode mode_;
  std::vector<EpisodeInfo> episodes_;
  std::vector<int64_t> frame_shape_;  // [H, W, 3]; empty until the first episode
  int64_t action_dim_ = -1;           // -1 until the first episode
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<Mapped>> mapped_;
};

}  // namespace wm::dataloader
