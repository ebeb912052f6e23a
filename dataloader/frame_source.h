// Frames from a video file (anything FFmpeg decodes: mp4, mkv, avi, raw .hevc, ...) or a
// folder of images (jpg/png), converted to RGB uint8 at a target size.
//
// Frame counts are exact: a video's packets are counted when it is opened (demuxing only,
// no decoding), which also gives every frame's timestamp for exact seeking and for frame-rate
// resampling (each output frame is the source frame nearest its time).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace wm::dataloader {

struct FrameSourceOptions {
  int height = 0;           // output size; 0 = the source's
  int width = 0;
  bool center_crop = true;  // cut the source to the output's aspect ratio before resizing
  double fps = 0;           // resample to this rate; 0 = every source frame
  double image_fps = 10;    // the rate an image folder is taken to have
  int decoder_threads = 1;  // FFmpeg's own decoder threads for this source
};

struct FrameSourceInfo {
  std::string path;
  std::string codec;         // "h264", "hevc", "png", ...
  int source_width = 0, source_height = 0;
  double source_fps = 0;
  int64_t source_frames = 0;
  int height = 0, width = 0; // of the frames read
  double fps = 0;            // of the frames read
  int64_t frames = 0;        // frames read() returns from the start, exactly
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual const FrameSourceInfo& info() const = 0;
  // Writes the next frame (height x width x 3 RGB bytes); false after the last one. A
  // corrupt or truncated file throws wm::core::Error naming the file and the frame.
  virtual bool read(uint8_t* rgb) = 0;
  // The next read() returns frame `index`.
  virtual void seek(int64_t index) = 0;
  virtual int64_t position() const = 0;
};

// Opens a video file or an image folder (decided by the path being a directory).
std::unique_ptr<FrameSource> open_frame_source(const std::filesystem::path& path, const FrameSourceOptions& options);

// Reads frames [start, start + count) (count < 0: to the end) into uint8 [T, H, W, 3].
at::Tensor read_frames(FrameSource& source, int64_t start = 0, int64_t count = -1);

// File extensions treated as images and as videos when searching folders.
bool is_image_file(const std::filesystem::path& path);
bool is_video_file(const std::filesystem::path& path);

}  // namespace wm::dataloader
