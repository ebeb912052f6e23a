#include "dataloader/mixed_source.h"

#include <torch/torch.h>

#include <cmath>

#include "core/error.h"

namespace wm::dataloader {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text;
  for (int64_t d : shape) text += (text.empty() ? "" : "x") + std::to_string(d);
  return text;
}

}  // namespace

MixedSource::MixedSource(std::vector<Part> parts) : parts_(std::move(parts)) {
  if (parts_.empty()) throw core::Error("a mixture of sources needs at least one");
  const Part& first = parts_.front();
  weighted_ = first.weight > 0;
  for (const Part& p : parts_) {
    if (!std::isfinite(p.weight) || p.weight < 0 || (p.weight > 0) != weighted_) {
      throw core::Error("source " + p.name + ": weight " + std::to_string(p.weight) +
                        " must be a finite number > 0, or every weight 0 (each source by its number of steps)");
    }
    if (p.source->observation_shape() != first.source->observation_shape() || p.source->observation_dtype() != first.source->observation_dtype()) {
      throw core::Error("source " + p.name + " has " + shape_text(p.source->observation_shape()) + " " +
                        std::string(c10::toString(p.source->observation_dtype())) + " frames, " + first.name + " " +
                        shape_text(first.source->observation_shape()) + " " + std::string(c10::toString(first.source->observation_dtype())) +
                        " (resize them alike: dataset.height/width)");
    }
    frames_only_ = frames_only_ || p.source->action_dim() != first.source->action_dim();
  }
  for (size_t p = 0; p < parts_.size(); ++p) {
    int64_t steps = 0;
    for (int64_t e = 0; e < parts_[p].source->num_episodes(); ++e) {
      episodes_.push_back({p, e});
      steps += parts_[p].source->episode_length(e);
    }
    // A weighted source with nothing in it would hand its share to the others unannounced.
    if (steps == 0) throw core::Error("source " + parts_[p].name + " has no steps to sample (after the held-out split)");
  }
}

int64_t MixedSource::episode_length(int64_t episode) const {
  const Episode& e = episodes_.at(episode);
  return parts_[e.part].source->episode_length(e.episode);
}

int64_t MixedSource::discrete_action_count() const {
  if (action_dim() != 0) return 0;
  int64_t count = 0;
  for (const Part& p : parts_) count = std::max(count, p.source->discrete_action_count());
  return count;
}

void MixedSource::read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row, int64_t offset) const {
  const Episode& e = episodes_.at(episode);
  const WindowSource& source = *parts_[e.part].source;
  if (!frames_only_) {
    source.read_steps(e.episode, start, count, batch, row, offset);
    return;
  }
  // Actions of another kind than the batch's: read into a one-row batch of the source's own
  // layout and keep the frames.
  WindowBatch own;
  std::vector<int64_t> shape = {1, count};
  for (int64_t d : source.observation_shape()) shape.push_back(d);
  own.observations = torch::empty(shape, torch::TensorOptions().dtype(source.observation_dtype()));
  own.actions = source.action_dim() == 0 ? torch::zeros({1, count}, torch::kInt64) : torch::zeros({1, count, source.action_dim()}, torch::kFloat32);
  own.rewards = torch::zeros({1, count}, torch::kFloat32);
  own.dones = torch::zeros({1, count}, torch::kUInt8);
  own.mask = torch::zeros({1, count}, torch::kBool);
  source.read_steps(e.episode, start, count, own, 0, 0);
  batch.observations[row].narrow(0, offset, count).copy_(own.observations[0]);
  batch.actions[row].narrow(0, offset, count).zero_();
  batch.rewards[row].narrow(0, offset, count).zero_();
  batch.dones[row].narrow(0, offset, count).zero_();
}

std::vector<double> MixedSource::episode_weights() const {
  if (!weighted_) return {};  // by length, as one source
  std::vector<double> steps(parts_.size(), 0.0);
  for (const Episode& e : episodes_) steps[e.part] += static_cast<double>(parts_[e.part].source->episode_length(e.episode));
  std::vector<double> weights;
  weights.reserve(episodes_.size());
  for (const Episode& e : episodes_) {
    const double length = static_cast<double>(parts_[e.part].source->episode_length(e.episode));
    weights.push_back(steps[e.part] > 0 ? parts_[e.part].weight * length / steps[e.part] : 0.0);
  }
  return weights;
}

}  // namespace wm::dataloader
