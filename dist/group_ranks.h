// core::Ranks on a c10d process group: what the training loop and the trainers ask of the other
// ranks (core/ranks.h), carried by dist::ProcessGroup, with the gradient boundary a bucketed
// all-reduce (dist/bucketed_all_reduce.h).
#pragma once

#include <memory>

#include "core/ranks.h"
#include "dist/bucketed_all_reduce.h"
#include "dist/process_group.h"

namespace wm::dist {

class GroupRanks final : public core::Ranks {
 public:
  explicit GroupRanks(std::shared_ptr<ProcessGroup> group, int64_t bucket_bytes = kDefaultBucketBytes);

  int rank() const override { return group_->rank(); }
  int world_size() const override { return group_->world_size(); }
  void sum(at::Tensor& tensor) override;
  void broadcast_from_rank0(std::vector<at::Tensor> tensors) override;
  std::string broadcast_bytes_from_rank0(const std::string& bytes) override;
  std::vector<std::string> all_gather_text(const std::string& key, const std::string& text) override;
  void barrier() override { group_->barrier(); }
  core::GradientSyncFactory gradient_sync() override { return bucketed_all_reduce(group_, bucket_bytes_); }

  ProcessGroup& group() { return *group_; }

 private:
  std::shared_ptr<ProcessGroup> group_;
  int64_t bucket_bytes_;
};

}  // namespace wm::dist
