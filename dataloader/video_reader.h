// FrameSource over one video file, decoded with libavformat/libavcodec.
#pragma once

#include <vector>

#include "dataloader/ffmpeg_util.h"
#include "dataloader/frame_source.h"

namespace wm::dataloader {

class VideoReader : public FrameSource {
 public:
  VideoReader(const std::filesystem::path& path, const FrameSourceOptions& options);

  const FrameSourceInfo& info() const override { return info_; }
  bool read(uint8_t* rgb) override;
  void seek(int64_t index) override;
  int64_t position() const override { return position_; }

 private:
  void index_packets();          // counts frames and collects their timestamps
  void open_decoder();
  // Decodes the next frame in presentation order into frame_; false at the end.
  bool decode_next();
  int64_t source_index_of(const AVFrame* frame) const;
  [[noreturn]] void fail(const std::string& what, int code) const;

  FrameSourceOptions options_;
  bool quiet_;  // FFmpeg's own log lines silenced before anything is opened
  FrameSourceInfo info_;
  FormatContextPtr format_;
  CodecContextPtr codec_;
  PacketPtr packet_;
  FramePtr frame_;
  RgbConverter converter_;
  int stream_ = -1;
  bool has_timestamps_ = true;
  std::vector<int64_t> pts_;          // sorted presentation timestamps of all frames
  std::vector<int64_t> output_to_source_;  // output frame k -> source frame index
  bool draining_ = false;
  int64_t decoded_index_ = -1;        // source index of the frame in frame_
  int64_t sequential_count_ = 0;      // frames decoded since the last (re)start
  int64_t position_ = 0;
  std::vector<uint8_t> last_rgb_;     // for repeated source frames when upsampling
  int64_t last_rgb_index_ = -1;
};

}  // namespace wm::dataloader
