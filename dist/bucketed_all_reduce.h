// Data-parallel gradients the way DDP does them: parameters are packed into buckets of about
// 25 MB in reverse order (the order backward produces their gradients); a gradient hook copies
// each parameter's gradient into its bucket, and the moment a bucket is full its all-reduce
// starts, so communication runs while backward still computes the earlier layers. finish()
// waits for the buckets, averages, and writes the mean back into every .grad.
//
// Micro-steps of gradient accumulation (before_backward(false)) send nothing: their gradients
// add up in .grad as on one process, and the last micro-step's bucket holds the sum.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/gradient_sync.h"
#include "dist/process_group.h"

namespace wm::dist {

constexpr int64_t kDefaultBucketBytes = int64_t{25} << 20;

// What a step's synchronisation cost, for benchmarks (dist/ bench and BENCHMARKS.md).
struct GradientSyncTimes {
  int64_t steps = 0;
  int64_t buckets_launched_in_backward = 0;  // all-reduces started by a hook, overlapping backward
  int64_t buckets_launched_at_finish = 0;    // started by finish() (a parameter without a gradient)
  double finish_seconds = 0;                 // time spent in finish(): the communication not hidden
};

class BucketedAllReduce final : public core::GradientSync {
 public:
  // `parameters` of one optimizer. Broadcasts nothing: rank 0's weights must already be
  // everywhere (broadcast_from_rank0 in dist/data_parallel.h).
  BucketedAllReduce(std::shared_ptr<ProcessGroup> group, std::vector<at::Tensor> parameters, int64_t bucket_bytes = kDefaultBucketBytes);
  ~BucketedAllReduce() override;
  BucketedAllReduce(const BucketedAllReduce&) = delete;
  BucketedAllReduce& operator=(const BucketedAllReduce&) = delete;

  void before_backward(bool last) override;
  void finish() override;

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  const GradientSyncTimes& times() const { return times_; }

 private:
  struct Bucket {
    std::vector<size_t> parameters;  // indices into parameters_
    std::vector<int64_t> offsets;    // of each parameter's slice in `flat`
    at::Tensor flat;                 // [numel of all + one presence flag per parameter]
    int64_t waiting = 0;             // gradients still to arrive this step
    std::unique_ptr<PendingReduction> pending;
  };

  void on_gradient(size_t parameter, const at::Tensor& grad);
  void launch(Bucket& bucket);

  std::shared_ptr<ProcessGroup> group_;
  std::vector<at::Tensor> parameters_;
  std::vector<unsigned> hooks_;                  // per parameter, to remove them again
  std::vector<std::pair<size_t, size_t>> slot_;  // per parameter: its bucket and its place in it
  std::vector<Bucket> buckets_;
  std::mutex mutex_;  // hooks may run on autograd's device threads
  bool armed_ = false;
  GradientSyncTimes times_;
};

// core::GradientSyncFactory that makes a BucketedAllReduce per parameter group; one process
// (world size 1) gets LocalGradients.
core::GradientSyncFactory bucketed_all_reduce(std::shared_ptr<ProcessGroup> group, int64_t bucket_bytes = kDefaultBucketBytes);

}  // namespace wm::dist
