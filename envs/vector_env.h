// N environments stepped together into one frame batch [N, H, W, 3]. An environment whose
// episode ends is reset at once (with its next seed): after step(), frames[i] is the first
// frame of its new episode and results[i].done() says that the previous one ended. This is
// the layout the episode store wants (frame t, action t, reward t, done t).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "envs/env.h"

namespace wm::envs {

class VectorEnv {
 public:
  virtual ~VectorEnv() = default;
  virtual int64_t size() const = 0;
  virtual std::string name() const = 0;
  virtual FrameSpec frame_spec() const = 0;
  virtual const ActionSpace& action_space() const = 0;
  // Environment i starts from seed `base_seed + i`; its k-th automatic reset uses
  // `base_seed + i + k * size()`, so no two episodes share a seed.
  virtual void reset(uint64_t base_seed, uint8_t* frames) = 0;
  virtual void step(const std::vector<Action>& actions, uint8_t* frames, std::vector<StepResult>& results) = 0;
};

// Native environments stepped by a thread pool, each thread taking a contiguous share.
class ThreadedVectorEnv : public VectorEnv {
 public:
  // threads = 0: as many as at::get_num_threads() (run.threads, or the cores).
  explicit ThreadedVectorEnv(std::vector<std::unique_ptr<Env>> envs, int threads = 0);

  int64_t size() const override { return static_cast<int64_t>(envs_.size()); }
  std::string name() const override { return envs_.front()->name(); }
  FrameSpec frame_spec() const override { return envs_.front()->frame_spec(); }
  const ActionSpace& action_space() const override { return envs_.front()->action_space(); }
  void reset(uint64_t base_seed, uint8_t* frames) override;
  void step(const std::vector<Action>& actions, uint8_t* frames, std::vector<StepResult>& results) override;

  Env& env(int64_t i) { return *envs_[static_cast<size_t>(i)]; }

 private:
  std::vector<std::unique_ptr<Env>> envs_;
  std::vector<uint64_t> next_seed_;
  std::unique_ptr<core::ThreadPool> pool_;
};

}  // namespace wm::envs
