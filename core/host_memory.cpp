#include "core/host_memory.h"

#include <malloc.h>

#include <climits>

namespace wm::core {

void keep_freed_memory_in_process() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);                // large blocks from the heap, not a mapping each
  mallopt(M_TRIM_THRESHOLD, INT_MAX);    // keep up to 2 GiB of free heap top
  mallopt(M_TOP_PAD, 64 << 20);          // grow the heap in 64 MiB steps
#endif
}

}  // namespace wm::core
