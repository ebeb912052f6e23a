#include "dataloader/episode_recorder.h"

#include <torch/torch.h>

#include <numeric>

namespace wm::dataloader {

EpisodeRecorder::EpisodeRecorder(EpisodeStore& store, const envs::VectorEnv& env)
    : store_(store), frame_spec_(env.frame_spec()), action_space_(env.action_space()),
      buffers_(static_cast<size_t>(env.size())) {}

int64_t EpisodeRecorder::record(const uint8_t* frames_before, const std::vector<envs::Action>& actions,
                                const std::vector<envs::StepResult>& results) {
  const int64_t bytes = frame_spec_.bytes();
  int64_t completed = 0;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    Buffer& b = buffers_[i];
    const uint8_t* frame = frames_before + static_cast<int64_t>(i) * bytes;
    b.frames.insert(b.frames.end(), frame, frame + bytes);
    if (action_space_.is_discrete()) {
      b.discrete_actions.push_back(actions[i].index);
    } else {
      b.continuous_actions.insert(b.continuous_actions.end(), actions[i].values.begin(), actions[i].values.end());
    }
    b.rewards.push_back(results[i].reward);
    b.dones.push_back(results[i].done() ? 1 : 0);
    if (results[i].done()) {
      flush(b);
      ++completed;
    }
  }
  return completed;
}

void EpisodeRecorder::flush(Buffer& b) {
  const int64_t t = static_cast<int64_t>(b.rewards.size());
  auto copy = [](auto& vec, at::IntArrayRef shape, at::ScalarType dtype) {
    return torch::from_blob(vec.data(), shape, torch::TensorOptions().dtype(dtype)).clone();
  };
  Episode episode;
  episode.frames = copy(b.frames, {t, frame_spec_.height, frame_spec_.width, 3}, torch::kUInt8);
  episode.actions = action_space_.is_discrete() ? copy(b.discrete_actions, {t}, torch::kInt64)
                                                : copy(b.continuous_actions, {t, action_space_.dim}, torch::kFloat32);
  episode.rewards = copy(b.rewards, {t}, torch::kFloat32);
  episode.dones = copy(b.dones, {t}, torch::kUInt8);
  store_.append(episode);
  returns_.push_back(std::accumulate(b.rewards.begin(), b.rewards.end(), 0.0));
  b = Buffer{};
}

}  // namespace wm::dataloader
