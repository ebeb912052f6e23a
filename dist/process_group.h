// A connection to the other ranks of a job on PyTorch's c10d: a TCPStore hosted by rank 0 at
// MASTER_ADDR:MASTER_PORT, and ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA).
// Every collective waits at most the configured timeout, then throws wm::core::Error naming
// the operation, so a rank that hangs or a link that goes down ends the job, not stalls it.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/worker_env.h"

namespace wm::dist {

// An all-reduce under way (from ProcessGroup::all_reduce_sum_async).
class PendingReduction {
 public:
  virtual ~PendingReduction() = default;
  virtual void wait() = 0;  // throws wm::core::Error on a timeout or a failed peer
};

class ProcessGroup {
 public:
  // Connects rank env.rank of env.world_size; rank 0 hosts the store. Throws wm::core::Error
  // when the port is taken, a peer does not join within `timeout`, or the device has no backend.
  static std::shared_ptr<ProcessGroup> connect(const WorkerEnv& env, c10::Device device, std::chrono::milliseconds timeout);
  virtual ~ProcessGroup() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual c10::Device device() const = 0;

  // In place, summed over the ranks; `tensor` must stay untouched until wait() returns.
  virtual std::unique_ptr<PendingReduction> all_reduce_sum_async(at::Tensor& tensor) = 0;
  void all_reduce_sum(at::Tensor& tensor) { all_reduce_sum_async(tensor)->wait(); }
  // Root's values into every rank's tensors (in place).
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root) = 0;
  virtual void barrier() = 0;
  // Every rank's `text`, in rank order (through the store: for start-up checks, not for data).
  virtual std::vector<std::string> all_gather_text(const std::string& key, const std::string& text) = 0;
};

}  // namespace wm::dist
