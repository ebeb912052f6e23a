#include "core/host_memory.h"

#include <malloc.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"

namespace wm::core {

void keep_freed_memory_in_process() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);                // large blocks from the heap, not a mapping each
  mallopt(M_TRIM_THRESHOLD, INT_MAX);    // keep up to 2 GiB of free heap top
  mallopt(M_TOP_PAD, 64 << 20);          // grow the heap in 64 MiB steps
#endif
}

namespace {

// A number read from a cgroup file ("max": no limit).
int64_t read_limit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::numeric_limits<int64_t>::max();
  try {
    return std::stoll(text);
  } catch (...) {
    return std::numeric_limits<int64_t>::max();
  }
}

}  // namespace

int64_t available_memory_bytes() {
  int64_t available = std::numeric_limits<int64_t>::max();
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    std::istringstream fields(line);
    std::string key;
    int64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") available = kib * 1024;
  }
  // cgroup v2: the limit less what the group already uses.
  // An unreadable memory.current counts as nothing used (never a negative room).
  const int64_t limit = read_limit("/sys/fs/cgroup/memory.max");
  const int64_t used = read_limit("/sys/fs/cgroup/memory.current");
  if (limit != std::numeric_limits<int64_t>::max()) {
    available = std::min(available, std::max<int64_t>(0, limit - (used == std::numeric_limits<int64_t>::max() ? 0 : used)));
  }
  return available;
}

std::string format_bytes(double bytes) {
  char text[32];
  if (bytes >= 1e9) {
    std::snprintf(text, sizeof text, "%.1f GB", bytes / 1e9);
  } else {
    std::snprintf(text, sizeof text, "%.0f MB", bytes / 1e6);
  }
  return text;
}

std::string MemoryEstimate::breakdown() const {
  return "weights, gradients and AdamW state " + format_bytes(weights) + ", activations " + format_bytes(activations);
}

void check_fits_in_memory(double bytes, const std::string& what, const std::string& breakdown, const std::string& advice) {
  const int64_t available = available_memory_bytes();
  if (bytes <= static_cast<double>(available)) return;
  throw Error(what + " needs about " + format_bytes(bytes) + " (" + breakdown + "), more than the " + format_bytes(static_cast<double>(available)) +
              " this machine has available; " + advice);
}

}  // namespace wm::core
