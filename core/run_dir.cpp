#include "core/run_dir.h"

#include <ATen/Parallel.h>

#include <thread>

#include "core/file_io.h"

namespace wm::core {

RunDir::RunDir(const RunOptions& run) : root_(std::filesystem::path(run.out_dir) / run.name) {
  ensure_directory(logs());
  ensure_directory(checkpoints());
}

void RunDir::write_config(const std::string& yaml) const {
  write_file_atomic(root_ / "config.yaml", yaml);
}

int configure_threads(int threads, int local_world_size) {
  if (threads <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, local_world_size));
  }
  at::set_num_threads(threads);
  return threads;
}

}  // namespace wm::core
