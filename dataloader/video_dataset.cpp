#include "dataloader/video_dataset.h"

#include <fnmatch.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/error.h"

namespace wm::dataloader {

namespace {

bool has_images(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() && is_image_file(entry.path())) return true;
  }
  return false;
}

bool matches(const std::filesystem::path& path, const std::string& glob) {
  return ::fnmatch(glob.c_str(), path.filename().c_str(), 0) == 0;
}

}  // namespace

std::filesystem::path find_action_sidecar(const std::filesystem::path& source) {
  std::vector<std::filesystem::path> candidates;
  if (std::filesystem::is_directory(source)) {
    candidates = {source / "actions.csv", source.parent_path() / (source.filename().string() + ".csv")};
  } else {
    candidates = {source.parent_path() / (source.stem().string() + ".csv"), source.parent_path() / "actions.csv"};
  }
  for (const auto& c : candidates) {
    if (std::filesystem::is_regular_file(c)) return c;
  }
  return {};
}

std::vector<std::filesystem::path> VideoDataset::find_sources(const std::vector<std::filesystem::path>& inputs,
                                                              const std::string& glob) {
  std::vector<std::filesystem::path> sources;
  for (const auto& input : inputs) {
    if (!std::filesystem::exists(input)) throw core::Error(input.string() + ": no such file or folder");
    if (!std::filesystem::is_directory(input)) {
      sources.push_back(input);  // named explicitly: taken whatever its name
      continue;
    }
    if (has_images(input)) sources.push_back(input);
    for (const auto& entry : std::filesystem::recursive_directory_iterator(input)) {
      if (entry.is_directory() && has_images(entry.path()) && matches(entry.path(), glob)) sources.push_back(entry.path());
      if (entry.is_regular_file() && is_video_file(entry.path()) && matches(entry.path(), glob)) sources.push_back(entry.path());
    }
  }
  std::sort(sources.begin(), sources.end());
  sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
  return sources;
}

VideoDataset::VideoDataset(const std::vector<std::filesystem::path>& inputs, VideoDatasetOptions options)
    : options_(std::move(options)) {
  for (const auto& source : find_sources(inputs, options_.glob)) {
    try {
      add_source(source);
    } catch (const core::Error& e) {
      spdlog::warn("skipping {}", e.what());
      skipped_.push_back(e.what());
    }
  }
  if (episodes_.empty()) {
    throw core::Error("no usable video or image folder under the given inputs" +
                      (skipped_.empty() ? std::string(" (glob '" + options_.glob + "')") : "; " + skipped_.front()));
  }
}

void VideoDataset::add_source(const std::filesystem::path& source) {
  auto reader = open_frame_source(source, options_.frames);
  const FrameSourceInfo& info = reader->info();
  if (height_ == 0) {
    height_ = info.height;
    width_ = info.width;
  } else if (info.height != height_ || info.width != width_) {
    throw core::Error(source.string() + ": frames are " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                      " but earlier sources are " + std::to_string(width_) + "x" + std::to_string(height_) +
                      " (set dataset.height and dataset.width)");
  }
  auto sidecar = std::make_shared<SidecarData>();
  const auto sidecar_path = find_action_sidecar(source);
  if (!sidecar_path.empty()) {
    *sidecar = read_action_sidecar(sidecar_path, options_.sidecar, info.frames, info.fps);
  } else {
    // No sidecar: zeros of the configured columns, or — none configured — no actions at all,
    // read as discrete action 0 (a [T, 0] float tensor would claim discrete actions and
    // break every batch).
    const auto dim = static_cast<int64_t>(options_.sidecar.action_columns.size());
    sidecar->actions = options_.sidecar.continuous && dim > 0 ? torch::zeros({info.frames, dim}, torch::kFloat32)
                                                              : torch::zeros({info.frames}, torch::kInt64);
    sidecar->rewards = torch::zeros({info.frames}, torch::kFloat32);
    sidecar->dones = torch::zeros({info.frames}, torch::kUInt8);
  }
  const int64_t dim = sidecar->actions.dim() == 2 ? sidecar->actions.size(1) : 0;
  if (action_dim_ >= 0 && dim != action_dim_) {
    throw core::Error(source.string() + ": " + std::to_string(dim) + " action values per frame, other sources have " +
                      std::to_string(action_dim_) + (sidecar_path.empty() ? " (it has no actions.csv)" : ""));
  }
  action_dim_ = dim;

  const int64_t segment = options_.segment_frames > 0 ? options_.segment_frames : info.frames;
  for (int64_t first = 0; first < info.frames; first += segment) {
    const int64_t length = std::min(segment, info.frames - first);
    episodes_.push_back({source, first, length, sidecar, first + length == info.frames});
  }
  ++sources_;
  std::lock_guard<std::mutex> lock(mutex_);
  if (readers_.size() < 8) readers_[source.string()] = std::move(reader);
}

at::Tensor VideoDataset::decode(const VideoEpisode& episode, int64_t start, int64_t count) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& reader = readers_[episode.source.string()];
  if (!reader) {
    if (readers_.size() > 8) {  // keep a few open decoders, not one per source
      for (auto it = readers_.begin(); it != readers_.end(); ++it) {
        if (it->second) {
          readers_.erase(it);
          break;
        }
      }
    }
    reader = open_frame_source(episode.source, options_.frames);
  }
  return read_frames(*reader, episode.first_frame + start, count);
}

Episode VideoDataset::slice(const VideoEpisode& episode, at::Tensor frames, int64_t start) const {
  const int64_t count = frames.size(0);
  const int64_t from = episode.first_frame + start;
  Episode e;
  e.frames = std::move(frames);
  e.actions = episode.sidecar->actions.narrow(0, from, count).clone();
  e.rewards = episode.sidecar->rewards.narrow(0, from, count).clone();
  e.dones = episode.sidecar->dones.narrow(0, from, count).clone();
  // The end of a source video is the end of an episode; a segment boundary is not.
  if (episode.ends_source && start + count == episode.length) e.dones[count - 1] = 1;
  return e;
}

Episode VideoDataset::load(int64_t index) const {
  const VideoEpisode& episode = episodes_.at(index);
  Episode e = slice(episode, decode(episode, 0, episode.length), 0);
  e.validate(episode.source.string());
  return e;
}

void VideoDataset::read_steps(int64_t index, int64_t start, int64_t count, WindowBatch& batch, int64_t row,
                              int64_t offset) const {
  const VideoEpisode& episode = episodes_.at(index);
  const Episode e = slice(episode, decode(episode, start, count), start);
  batch.observations[row].narrow(0, offset, count).copy_(e.frames);
  batch.actions[row].narrow(0, offset, count).copy_(e.actions);
  batch.rewards[row].narrow(0, offset, count).copy_(e.rewards);
  batch.dones[row].narrow(0, offset, count).copy_(e.dones);
}

}  // namespace wm::dataloader
