// Host memory: process-wide settings of the C allocator for training workloads, and the
// check that a model, batch or cache fits before it is allocated.
#pragma once

#include <cstdint>
#include <string>

namespace wm::core {

// Keeps memory freed by tensors inside the process for the next step instead of returning it
// to the kernel. The CPU tensor allocator is plain malloc: with glibc's defaults every
// allocation above the mmap threshold (at most 32 MiB) is a fresh mapping that the kernel
// zero-fills page by page on first touch and unmaps on free. A training step allocates and
// frees the same activation sizes every time, so at IRIS's size ~5% of a CPU step went to
// page faults. Afterwards large blocks come from the heap and stay there: resident memory
// stays at the peak a step needs. Call once at start-up, before threads allocate.
void keep_freed_memory_in_process();

// The memory this process can still get: the kernel's MemAvailable, or less where a cgroup
// (a container, a SLURM job) limits the process to less.
int64_t available_memory_bytes();

// "12.3 GB" (powers of 1000, as free -h --si and the kernel's OOM messages count).
std::string format_bytes(double bytes);

// What a training step keeps in memory, estimated from the model's shape before the first
// step allocates it: only what a step surely adds to what the process already holds (the model's
// weights exist when it is checked), so a refusal means the step cannot fit.
struct MemoryEstimate {
  double weights = 0;      // gradients and AdamW's two moments: 12 bytes a parameter
  double activations = 0;  // what backward needs of one (micro-)batch's forward pass
  double total() const { return weights + activations; }
  // "weights, gradients and AdamW state 1.2 GB, activations 810.0 GB"
  std::string breakdown() const;
};

// Throws wm::core::Error when `bytes` (an estimate, counting only what surely is allocated)
// exceeds available_memory_bytes(): "<what> needs about <bytes> (<breakdown>), more than the
// <available> this machine has available; <advice>". Better one line now than the kernel's
// OOM killer after minutes of swapping.
void check_fits_in_memory(double bytes, const std::string& what, const std::string& breakdown, const std::string& advice);

}  // namespace wm::core
