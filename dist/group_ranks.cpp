#include "dist/group_ranks.h"

#include <ATen/ATen.h>

#include <cstring>

namespace wm::dist {

GroupRanks::GroupRanks(std::shared_ptr<ProcessGroup> group, int64_t bucket_bytes) : group_(std::move(group)), bucket_bytes_(bucket_bytes) {}

void GroupRanks::sum(at::Tensor& tensor) {
  at::NoGradGuard no_grad;
  // NCCL reduces tensors on its GPU: a CPU tensor goes there and back.
  if (tensor.device() == group_->device() && tensor.is_contiguous()) {
    group_->all_reduce_sum(tensor);
    return;
  }
  at::Tensor there = tensor.to(group_->device()).contiguous();
  group_->all_reduce_sum(there);
  tensor.copy_(there);
}

void GroupRanks::broadcast_from_rank0(std::vector<at::Tensor> tensors) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> there;
  for (const at::Tensor& t : tensors) there.push_back(t.device() == group_->device() && t.is_contiguous() ? t : t.to(group_->device()).contiguous());
  group_->broadcast(there, /*root=*/0);
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!there[i].is_same(tensors[i])) tensors[i].copy_(there[i]);
  }
}

std::string GroupRanks::broadcast_bytes_from_rank0(const std::string& bytes) {
  // The length first (the others do not know it), then the bytes.
  at::Tensor length = at::full({1}, rank() == 0 ? static_cast<int64_t>(bytes.size()) : 0, at::kLong);
  broadcast_from_rank0({length});
  const int64_t n = length.item<int64_t>();
  if (n == 0) return {};
  at::Tensor data = at::empty({n}, at::kByte);
  if (rank() == 0) std::memcpy(data.data_ptr(), bytes.data(), static_cast<size_t>(n));
  broadcast_from_rank0({data});
  return std::string(static_cast<const char*>(data.data_ptr()), static_cast<size_t>(n));
}

std::vector<std::string> GroupRanks::all_gather_text(const std::string& key, const std::string& text) {
  return group_->all_gather_text(key, text);
}

}  // namespace wm::dist
