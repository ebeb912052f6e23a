#include "core/run_dir.h"

#include <ATen/Parallel.h>
#include <sched.h>

#include <thread>

#include "core/file_io.h"

namespace wm::core {

RunDir::RunDir(const RunOptions& run) : root_(std::filesystem::path(run.out_dir) / run.name) {
  ensure_directory(logs());
  ensure_directory(checkpoints());
}

void RunDir::write_config(const std::string& yaml, const std::string& command) const {
  ensure_directory(root_ / "configs");
  write_file_atomic(root_ / "configs" / (command + ".yaml"), yaml);
  write_file_atomic(root_ / "config.yaml", yaml);
}

int usable_cores() {
  // The CPUs this process may run on (taskset, cgroups' cpusets, SLURM's binding), not all the
  // machine has: a run pinned to one core must not start two threads per core of the host.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int configure_threads(int threads, int local_world_size) {
  if (threads <= 0) {
    const int cores = usable_cores();
    threads = std::max(1, cores / std::max(1, local_world_size));
  }
  at::set_num_threads(threads);
  return threads;
}

}  // namespace wm::core
