#include "tools/collect_episodes.h"

#include <torch/torch.h>

#include <chrono>
#include <memory>

#include "core/progress.h"
#include "dataloader/episode_recorder.h"

namespace wm::tools {

uint64_t collection_seed(int64_t run_seed, const dataloader::EpisodeStore& store) {
  return static_cast<uint64_t>(run_seed) * 1000003u + static_cast<uint64_t>(store.num_episodes()) * 7919u;
}

Collector::Collector(envs::VectorEnv& env, dataloader::EpisodeStore& store, uint64_t seed)
    : env_(env),
      recorder_(std::make_unique<dataloader::EpisodeRecorder>(store, env)),
      frames_(static_cast<size_t>(env.size() * env.frame_spec().bytes())),
      before_(frames_.size()) {
  env_.reset(seed, frames_.data());
}

Collector::~Collector() = default;

CollectReport Collector::collect(envs::Agent& agent, int64_t steps, const std::function<void(int64_t, double)>& on_episode, bool progress_bar) {
  const envs::FrameSpec spec = env_.frame_spec();
  const torch::Tensor frames_view = torch::from_blob(frames_.data(), {env_.size(), spec.height, spec.width, 3}, torch::kUInt8);
  for (int64_t i = 0; i < env_.size(); ++i) agent.episode_ended(i);  // a new agent starts every slot afresh

  std::unique_ptr<core::ProgressBar> progress;
  if (progress_bar) progress = std::make_unique<core::ProgressBar>("collect", steps, "step");
  CollectReport report;
  const size_t finished_earlier = recorder_->returns().size();
  const auto start = std::chrono::steady_clock::now();
  while (report.steps < steps) {
    const std::vector<envs::Action> actions = agent.act(frames_view);
    before_ = frames_;
    env_.step(actions, frames_.data(), results_);
    const size_t finished_before = recorder_->returns().size();
    recorder_->record(before_.data(), actions, results_);
    report.steps += env_.size();
    for (size_t k = finished_before; k < recorder_->returns().size(); ++k) {
      if (on_episode) on_episode(report.steps, recorder_->returns()[k]);
    }
    for (int64_t i = 0; i < env_.size(); ++i) {
      if (results_[static_cast<size_t>(i)].done()) agent.episode_ended(i);
    }
    if (progress) progress->advance(env_.size());
  }
  if (progress) progress->finish();
  report.returns.assign(recorder_->returns().begin() + static_cast<std::ptrdiff_t>(finished_earlier), recorder_->returns().end());
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

CollectReport collect_episodes(envs::VectorEnv& env, envs::Agent& agent, dataloader::EpisodeStore& store, int64_t steps, uint64_t seed,
                               const std::function<void(int64_t, double)>& on_episode, bool progress_bar) {
  return Collector(env, store, seed).collect(agent, steps, on_episode, progress_bar);
}

}  // namespace wm::tools
