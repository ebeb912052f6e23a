// A video dataset as a training source: video files (and image folders) found under the
// given paths, each an episode or cut into fixed-length segments, with actions from their
// sidecars. It is a WindowSource like the episode store, so trainers sample from either;
// `wm data import` decodes it once into an episode store for faster repeated training.
//
// Sidecar lookup for video DIR/NAME.EXT: DIR/NAME.csv, else DIR/actions.csv; for an image
// folder: FOLDER/actions.csv, else FOLDER.csv. A video without one gets zero actions.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataloader/action_sidecar.h"
#include "dataloader/episode.h"
#include "dataloader/frame_source.h"
#include "dataloader/window_source.h"

namespace wm::dataloader {

struct VideoDatasetOptions {
  std::string glob = "*";       // file-name filter when searching folders (fnmatch)
  FrameSourceOptions frames;    // output size, crop, frame rate, decoder threads
  int64_t segment_frames = 0;   // > 0: cut each video into segments of this many frames
  SidecarOptions sidecar;
};

struct VideoEpisode {
  std::filesystem::path source;  // video file or image folder
  int64_t first_frame = 0;       // of the source, after resampling
  int64_t length = 0;
  std::shared_ptr<const SidecarData> sidecar;  // shared by the segments of one source
  bool ends_source = false;      // the last segment of its source
};

// The actions.csv sidecar of a video file or image folder (lookup order above); empty when
// it has none.
std::filesystem::path find_action_sidecar(const std::filesystem::path& source);

class VideoDataset : public WindowSource {
 public:
  // Finds and opens every source under `inputs`. A source that cannot be opened is skipped
  // with a warning and listed in skipped(); the others are kept.
  VideoDataset(const std::vector<std::filesystem::path>& inputs, VideoDatasetOptions options);

  const std::vector<VideoEpisode>& episodes() const { return episodes_; }
  const std::vector<std::string>& skipped() const { return skipped_; }  // "path: reason"
  int64_t sources() const { return sources_; }

  // Decodes episode i whole.
  Episode load(int64_t episode) const;

  // WindowSource
  int64_t num_episodes() const override { return static_cast<int64_t>(episodes_.size()); }
  int64_t episode_length(int64_t episode) const override { return episodes_.at(episode).length; }
  std::vector<int64_t> observation_shape() const override { return {height_, width_, 3}; }
  at::ScalarType observation_dtype() const override { return at::kByte; }
  int64_t action_dim() const override { return action_dim_; }
  void read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row,
                  int64_t offset) const override;

  // Every video file and image folder under `inputs` that matches `glob`, sorted.
  static std::vector<std::filesystem::path> find_sources(const std::vector<std::filesystem::path>& inputs,
                                                         const std::string& glob);

 private:
  void add_source(const std::filesystem::path& source);
  at::Tensor decode(const VideoEpisode& episode, int64_t start, int64_t count) const;
  Episode slice(const VideoEpisode& episode, at::Tensor frames, int64_t start) const;

  VideoDatasetOptions options_;
  std::vector<VideoEpisode> episodes_;
  std::vector<std::string> skipped_;
  int64_t sources_ = 0;
  int64_t height_ = 0, width_ = 0, action_dim_ = -1;
  mutable std::mutex mutex_;  // readers are not thread-safe; reads are serialized
  mutable std::map<std::string, std::unique_ptr<FrameSource>> readers_;
};

}  // namespace wm::dataloader
