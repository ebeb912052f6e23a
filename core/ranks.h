// The other processes of a data-parallel job, as the training loop and the trainers see them:
// the collectives they need and nothing about how they travel (dist/group_ranks.h puts them on
// c10d; OneProcess is a job of one). Every call is collective: every rank makes the same calls
// in the same order, or the job stops at the collective timeout.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "core/gradient_sync.h"
#include "core/metrics.h"

namespace torch::nn {
class Module;
}

namespace wm::core {

class Ranks {
 public:
  virtual ~Ranks() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // In place: the sum over the ranks.
  virtual void sum(at::Tensor& tensor) = 0;
  // In place: rank 0's values on every rank.
  virtual void broadcast_from_rank0(std::vector<at::Tensor> tensors) = 0;
  // Rank 0's bytes on every rank (what the others pass is ignored).
  virtual std::string broadcast_bytes_from_rank0(const std::string& bytes) = 0;
  // Every rank's text, in rank order (start-up checks and rare slow paths, not data).
  virtual std::vector<std::string> all_gather_text(const std::string& key, const std::string& text) = 0;
  virtual void barrier() = 0;
  // The gradient boundary every trainer's step puts between backward and the clip.
  virtual GradientSyncFactory gradient_sync() = 0;
};

// A job of one process: every collective is the identity.
class OneProcess final : public Ranks {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void sum(at::Tensor&) override {}
  void broadcast_from_rank0(std::vector<at::Tensor>) override {}
  std::string broadcast_bytes_from_rank0(const std::string& bytes) override { return bytes; }
  std::vector<std::string> all_gather_text(const std::string&, const std::string& text) override { return {text}; }
  void barrier() override {}
  GradientSyncFactory gradient_sync() override { return local_gradients(); }
};

// Every rank's `rows` ([n, ...], the same shape on every rank) stacked in rank order:
// [world_size * n, ...]. Throws wm::core::Error when the ranks' shapes differ.
at::Tensor gather_rows(Ranks& ranks, const at::Tensor& rows);

// Rank 0's parameters and buffers of `module` on every rank.
void broadcast_module(Ranks& ranks, const torch::nn::Module& module);

// The global random stream (dropout masks, sampled actions) of this rank: rank 0 keeps it as
// one process would have it; every other rank is reseeded from (seed, rank, salt), so the
// ranks' draws differ. Called after the run seeds (salt 0) and after a checkpoint restores
// rank 0's stream on every rank (salt: the step).
void diverge_random_stream(const Ranks& ranks, uint64_t seed, uint64_t salt);

// A step's figures as the job logs them: each the mean over the ranks that report it, except
// rates (names ending in "_per_s"), which add up to the job's rate. One small all-reduce when
// every rank reports the same names in the same order (the common case, checked by a hash
// carried in the same all-reduce); otherwise the names are exchanged first and the result
// lists every name any rank reported, in rank 0's order, then the others'.
Scalars combine_figures(Ranks& ranks, const Scalars& scalars);

}  // namespace wm::core
