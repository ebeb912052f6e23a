#include "dataloader/data_source.h"

#include <cmath>

#include "core/error.h"
#include "dataloader/episode_store.h"

namespace wm::dataloader {

void describe(core::ConfigSchema& schema, DataOptions& data) {
  schema.add("path", &data.path, "episode store or video dataset to train on; empty = <run>/episodes");
  schema.add("paths", &data.paths,
             "several sources at once (wm train tokenizer; instead of path): episode stores, videos, image folders, each split "
             "into training and held-out parts, with held-out PSNR per source");
  schema.add("weights", &data.weights, "one per data.paths entry: each source's share of the training frames; empty: by its size");
  schema.add("holdout_fraction", &data.holdout_fraction, "the share held out for evaluation: of every episode (tail) or of the episodes", core::between(0, 1));
  schema.add_choice("holdout", &data.holdout, {{"tail", Holdout::kTail}, {"episodes", Holdout::kEpisodes}},
                    "tail: the last part of every episode; episodes: whole episodes, the last ones in order (a scene never trained on)");
  schema.add("holdout_gap_steps", &data.holdout_gap_steps,
             "tail: steps between the training part and the held-out tail that neither uses (the model's context keeps every "
             "training window a context away from the held-out ones)", core::at_least(0));
}

std::shared_ptr<WindowSource> open_source(const std::filesystem::path& path, const VideoDatasetOptions& video) {
  if (!std::filesystem::exists(path)) {
    throw core::Error("data source " + path.string() + " does not exist (collect episodes with 'wm collect', or set data.path)");
  }
  if (is_episode_store(path)) return std::make_shared<EpisodeStore>(path, EpisodeStore::Mode::kRead);
  return std::make_shared<VideoDataset>(std::vector<std::filesystem::path>{path}, video);
}

SplitSource::SplitSource(std::shared_ptr<const WindowSource> source, const DataOptions& data, Part part) : source_(std::move(source)) {
  const double fraction = data.holdout_fraction;
  if (!(fraction >= 0 && fraction < 1)) throw core::Error("data.holdout_fraction " + std::to_string(fraction) + " is outside [0, 1)");
  if (data.holdout_gap_steps < 0) throw core::Error("data.holdout_gap_steps " + std::to_string(data.holdout_gap_steps) + " is negative");
  const int64_t episodes = source_->num_episodes();
  if (data.holdout == Holdout::kEpisodes) {
    // The last round(fraction * N) episodes, at least one held out and one trained on.
    int64_t held = fraction > 0 ? std::max<int64_t>(1, std::llround(fraction * static_cast<double>(episodes))) : 0;
    if (held > 0 && episodes < 2) {
      throw core::Error("data.holdout=episodes needs at least 2 episodes to hold one out, the data has " + std::to_string(episodes) +
                        " (data.holdout=tail holds out the end of each)");
    }
    held = std::min(held, episodes - 1);
    for (int64_t e = 0; e < episodes; ++e) {
      const bool held_out = e >= episodes - held;
      if (held_out == (part == Part::kHoldout) && source_->episode_length(e) > 0) episodes_.push_back({e, 0, source_->episode_length(e)});
    }
    return;
  }
  for (int64_t e = 0; e < episodes; ++e) {
    const int64_t length = source_->episode_length(e);
    const auto train_end = static_cast<int64_t>(std::floor(static_cast<double>(length) * (1.0 - fraction)));
    // The gap comes out of the training part: the held-out tail is the same whatever the gap.
    const int64_t train = fraction > 0 ? std::max<int64_t>(0, train_end - data.holdout_gap_steps) : train_end;
    const Range range = part == Part::kTrain ? Range{e, 0, train} : Range{e, train_end, length - train_end};
    if (range.length > 0) episodes_.push_back(range);
  }
}

void SplitSource::read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row, int64_t offset) const {
  const Range& r = episodes_.at(episode);
  source_->read_steps(r.episode, r.first + start, count, batch, row, offset);
}

}  // namespace wm::dataloader
