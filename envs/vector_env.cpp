#include "envs/vector_env.h"

#include <ATen/Parallel.h>


#include "core/error.h"

namespace wm::envs {

ThreadedVectorEnv::ThreadedVectorEnv(std::vector<std::unique_ptr<Env>> envs, int threads) : envs_(std::move(envs)) {
  if (envs_.empty()) throw core::Error("a vector environment needs at least one environment");
  next_seed_.resize(envs_.size());
  const int wanted = threads > 0 ? threads : at::get_num_threads();
  pool_ = std::make_unique<core::ThreadPool>(std::min<int>(wanted, static_cast<int>(envs_.size())));
}

void ThreadedVectorEnv::reset(uint64_t base_seed, uint8_t* frames) {
  const int64_t bytes = frame_spec().bytes();
  for (size_t i = 0; i < envs_.size(); ++i) next_seed_[i] = base_seed + i;
  pool_->parallel_for(size(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      envs_[i]->reset(next_seed_[i], frames + i * bytes);
      next_seed_[i] += envs_.size();
    }
  });
}

void ThreadedVectorEnv::step(const std::vector<Action>& actions, uint8_t* frames,
                             std::vector<StepResult>& results) {
  if (static_cast<int64_t>(actions.size()) != size()) {
    throw core::Error(name() + ": got " + std::to_string(actions.size()) + " actions for " +
                      std::to_string(size()) + " environments");
  }
  // Validate up front, so a bad action fails before any environment has moved.
  for (const Action& action : actions) validate_action(action_space(), action, name());
  results.resize(envs_.size());
  const int64_t bytes = frame_spec().bytes();
  pool_->parallel_for(size(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint8_t* frame = frames + i * bytes;
      results[i] = envs_[i]->step(actions[i], frame);
      if (results[i].done()) {
        envs_[i]->reset(next_seed_[i], frame);
        next_seed_[i] += envs_.size();
      }
    }
  });
}

}  // namespace wm::envs
