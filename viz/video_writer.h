// Encodes RGB frames into a video file with FFmpeg (libavformat/libavcodec). The container
// follows the file extension (.mp4, .mkv, .avi, raw .hevc, .gif, ...); the file is written under a
// temporary name and renamed by close(), so a crash never leaves a half video in place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace wm::viz {

struct VideoWriterOptions {
  std::string codec;  // empty: libx264 (mp4, mkv, mov; mpeg4 without x264), mpeg4 (avi), libx265 (hevc), png, gif
  double fps = 10;
  // Quality, lower is better: CRF for libx264/libx265 (0 = lossless, 23 = their default),
  // qscale 1..31 for mpeg4.
  int quality = 18;
  std::string pixel_format;  // empty: yuv444p for x264/x265 at quality 0, else yuv420p
};

class VideoWriter {
 public:
  VideoWriter(const std::filesystem::path& path, int height, int width, VideoWriterOptions options = {});
  ~VideoWriter();  // without close(): the temporary file is removed
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // One frame of height x width x 3 RGB bytes.
  void write(const uint8_t* rgb);
  // Flushes the encoder, finishes the container and renames the file into place.
  void close();
  int64_t frames_written() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wm::viz
