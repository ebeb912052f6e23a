// The run directory <out_dir>/<name>/: config.yaml (resolved, as the latest command ran),
// configs/<command>.yaml (each command's own), metrics.jsonl, tb/, logs/, checkpoints/, and
// later episodes/ and dreams/.
#pragma once

#include <filesystem>
#include <string>

#include "core/options.h"

namespace wm::core {

class RunDir {
 public:
  // Creates the directory and its logs/ and checkpoints/ folders.
  explicit RunDir(const RunOptions& run);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path logs() const { return root_ / "logs"; }
  std::filesystem::path checkpoints() const { return root_ / "checkpoints"; }
  std::filesystem::path tensorboard() const { return root_ / "tb"; }

  // Writes the resolved config atomically as config.yaml (what later commands read: the
  // latest) and as configs/<command>.yaml (e.g. train_tokenizer: kept when another command
  // of the run writes its own).
  void write_config(const std::string& yaml, const std::string& command) const;

 private:
  std::filesystem::path root_;
};

// Sets the intra-op thread count: `threads` when > 0, else the cores divided among the
// processes of this machine (oversubscribed ranks crawl). Returns the count used.
int configure_threads(int threads, int local_world_size);

// The CPUs this process may run on (its affinity mask), at least 1.
int usable_cores();

}  // namespace wm::core
