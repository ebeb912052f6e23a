#include "dataloader/data_source.h"

#include <cmath>

#include "core/error.h"
#include "dataloader/episode_store.h"

namespace wm::dataloader {

void describe(core::ConfigSchema& schema, DataOptions& data) {
  schema.add("path", &data.path, "episode store or video dataset to train on; empty = <run>/episodes");
  schema.add("holdout_fraction", &data.holdout_fraction, "the last part of every episode held out for evaluation");
}

std::shared_ptr<WindowSource> open_source(const std::filesystem::path& path, const VideoDatasetOptions& video) {
  if (!std::filesystem::exists(path)) {
    throw core::Error("data source " + path.string() + " does not exist (collect episodes with 'wm collect', or set data.path)");
  }
  if (is_episode_store(path)) return std::make_shared<EpisodeStore>(path, EpisodeStore::Mode::kRead);
  return std::make_shared<VideoDataset>(std::vector<std::filesystem::path>{path}, video);
}

SplitSource::SplitSource(std::shared_ptr<const WindowSource> source, double fraction, Part part) : source_(std::move(source)) {
  if (fraction < 0 || fraction >= 1) throw core::Error("data.holdout_fraction " + std::to_string(fraction) + " is outside [0, 1)");
  for (int64_t e = 0; e < source_->num_episodes(); ++e) {
    const int64_t length = source_->episode_length(e);
    const auto train = static_cast<int64_t>(std::floor(static_cast<double>(length) * (1.0 - fraction)));
    const Range range = part == Part::kTrain ? Range{e, 0, train} : Range{e, train, length - train};
    if (range.length > 0) episodes_.push_back(range);
  }
}

void SplitSource::read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row, int64_t offset) const {
  const Range& r = episodes_.at(episode);
  source_->read_steps(r.episode, r.first + start, count, batch, row, offset);
}

}  // namespace wm::dataloader
