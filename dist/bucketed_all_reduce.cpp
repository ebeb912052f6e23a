#include "dist/bucketed_all_reduce.h"

#include <ATen/ATen.h>

#include <chrono>

#include "core/error.h"

namespace wm::dist {

BucketedAllReduce::BucketedAllReduce(std::shared_ptr<ProcessGroup> group, std::vector<at::Tensor> parameters, int64_t bucket_bytes)
    : group_(std::move(group)), parameters_(std::move(parameters)), slot_(parameters_.size()) {
  // Buckets in reverse order of the parameters (backward meets the last layers first), one
  // dtype each, closed when they pass bucket_bytes.
  for (size_t i = parameters_.size(); i-- > 0;) {
    const at::Tensor& p = parameters_[i];
    if (!p.requires_grad()) continue;
    const bool fits = !buckets_.empty() && parameters_[buckets_.back().parameters.front()].scalar_type() == p.scalar_type() &&
                      buckets_.back().offsets.back() * p.element_size() < bucket_bytes;
    if (!fits) buckets_.push_back({.offsets = {0}});
    Bucket& b = buckets_.back();
    slot_[i] = {buckets_.size() - 1, b.parameters.size()};
    b.parameters.push_back(i);
    b.offsets.push_back(b.offsets.back() + p.numel());
  }
  for (Bucket& b : buckets_) {
    // The values, then one flag per parameter: summed over ranks, it says whether any rank had
    // a gradient for it (one that none had keeps none, as on one process).
    const at::Tensor& first = parameters_[b.parameters.front()];
    b.flat = at::zeros({b.offsets.back() + static_cast<int64_t>(b.parameters.size())}, first.options().requires_grad(false));
    b.offsets.pop_back();
  }
  hooks_.assign(parameters_.size(), 0);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (!parameters_[i].requires_grad()) continue;
    hooks_[i] = parameters_[i].register_hook([this, i](const at::TensorBase& grad) { on_gradient(i, at::Tensor(grad)); });
  }
}

BucketedAllReduce::~BucketedAllReduce() {
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (parameters_[i].requires_grad()) parameters_[i].remove_hook(hooks_[i]);
  }
}

void BucketedAllReduce::before_backward(bool last) {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = last;
  if (!last) return;
  for (Bucket& b : buckets_) {
    b.flat.zero_();
    b.waiting = static_cast<int64_t>(b.parameters.size());
    b.pending.reset();
  }
}

void BucketedAllReduce::on_gradient(size_t parameter, const at::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) return;  // an accumulation micro-step: .grad adds up locally
  Bucket& b = buckets_[slot_[parameter].first];
  const size_t place = slot_[parameter].second;
  const at::Tensor& p = parameters_[parameter];
  // The hook sees this backward's gradient before it is added to .grad: the bucket gets the
  // sum, what .grad will hold after the step's micro-batches.
  at::Tensor slice = b.flat.narrow(0, b.offsets[place], p.numel()).view(p.sizes());
  slice.copy_(grad);
  if (p.grad().defined()) slice.add_(p.grad());
  b.flat[b.flat.size(0) - static_cast<int64_t>(b.parameters.size()) + static_cast<int64_t>(place)].fill_(1);
  if (--b.waiting == 0) {
    launch(b);
    ++times_.buckets_launched_in_backward;
  }
}

void BucketedAllReduce::launch(Bucket& b) { b.pending = group_->all_reduce_sum_async(b.flat); }

void BucketedAllReduce::finish() {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_) throw core::Error("BucketedAllReduce::finish() without before_backward(/*last=*/true) in this step");
  armed_ = false;
  // Buckets a parameter without a gradient kept open: every rank launches them in the same
  // order, so the collectives match.
  for (Bucket& b : buckets_) {
    if (!b.pending) {
      launch(b);
      ++times_.buckets_launched_at_finish;
    }
  }
  const double world = static_cast<double>(group_->world_size());
  for (Bucket& b : buckets_) {
    b.pending->wait();
    b.pending.reset();
    const int64_t flags_at = b.flat.size(0) - static_cast<int64_t>(b.parameters.size());
    const at::Tensor flags = b.flat.narrow(0, flags_at, static_cast<int64_t>(b.parameters.size())).cpu();
    for (size_t place = 0; place < b.parameters.size(); ++place) {
      at::Tensor& p = parameters_[b.parameters[place]];
      if (flags[static_cast<int64_t>(place)].item<double>() == 0) continue;  // no rank had a gradient
      const at::Tensor mean = b.flat.narrow(0, b.offsets[place], p.numel()).view(p.sizes()) / world;
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.clone();
      }
    }
  }
  ++times_.steps;
  times_.finish_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

core::GradientSyncFactory bucketed_all_reduce(std::shared_ptr<ProcessGroup> group, int64_t bucket_bytes) {
  return [group, bucket_bytes](const std::vector<at::Tensor>& parameters) -> std::unique_ptr<core::GradientSync> {
    if (group == nullptr || group->world_size() == 1) return std::make_unique<core::LocalGradients>();
    return std::make_unique<BucketedAllReduce>(group, parameters, bucket_bytes);
  };
}

}  // namespace wm::dist
