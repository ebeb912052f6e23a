#include "tools/checkpoint_paths.h"

#include "core/checkpoint.h"
#include "core/error.h"

namespace wm::tools {

std::filesystem::path resolve_checkpoint(const std::string& given, const std::string& kind) {
  const std::filesystem::path path(given);
  if (!std::filesystem::is_directory(path)) return path;
  const std::filesystem::path dir = std::filesystem::is_directory(path / "checkpoints") ? path / "checkpoints" : path;
  const auto latest = core::CheckpointDir(dir, /*keep_last=*/0).load_latest_valid(kind);
  if (!latest) throw core::Error(given + " holds no valid " + kind + " checkpoint (train one with 'wm train " + kind + "')");
  return latest->path();
}

}  // namespace wm::tools
