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

CollectReport collect_episodes(envs::VectorEnv& env, envs::Agent& agent, dataloader::EpisodeStore& store, int64_t steps, uint64_t seed,
                               const std::function<void(int64_t, double)>& on_episode, bool progress_bar) {
  dataloader::EpisodeRecorder recorder(store, env);
  const envs::FrameSpec spec = env.frame_spec();
  std::vector<uint8_t> frames(static_cast<size_t>(env.size() * spec.bytes())), before(frames.size());
  const torch::Tensor frames_view = torch::from_blob(frames.data(), {env.size(), spec.height, spec.width, 3}, torch::kUInt8);
  std::vector<envs::StepResult> results;
  env.reset(seed, frames.data());
  for (int64_t i = 0; i < env.size(); ++i) agent.episode_ended(i);  // every slot starts an episode

  std::unique_ptr<core::ProgressBar> progress;
  if (progress_bar) progress = std::make_unique<core::ProgressBar>("collect", steps, "step");
  CollectReport report;
  const auto start = std::chrono::steady_clock::now();
  while (report.steps < steps) {
    const std::vector<envs::Action> actions = agent.act(frames_view);
    before = frames;
    env.step(actions, frames.data(), results);
    const size_t finished_before = recorder.returns().size();
    recorder.record(before.data(), actions, results);
    report.steps += env.size();
    for (size_t k = finished_before; k < recorder.returns().size(); ++k) {
      if (on_episode) on_episode(report.steps, recorder.returns()[k]);
    }
    for (int64_t i = 0; i < env.size(); ++i) {
      if (results[static_cast<size_t>(i)].done()) agent.episode_ended(i);
    }
    if (progress) progress->advance(env.size());
  }
  if (progress) progress->finish();
  report.returns = recorder.returns();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace wm::tools
