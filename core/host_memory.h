// Process-wide settings of the C allocator for training workloads.
#pragma once

namespace wm::core {

// Keeps memory freed by tensors inside the process for the next step instead of returning it
// to the kernel. The CPU tensor allocator is plain malloc: with glibc's defaults every
// allocation above the mmap threshold (at most 32 MiB) is a fresh mapping that the kernel
// zero-fills page by page on first touch and unmaps on free. A training step allocates and
// frees the same activation sizes every time, so at IRIS's size ~5% of a CPU step went to
// page faults. Afterwards large blocks come from the heap and stay there: resident memory
// stays at the peak a step needs. Call once at start-up, before threads allocate.
void keep_freed_memory_in_process();

}  // namespace wm::core
