// FrameSource over a folder of images (jpg, png, ...), in natural file-name order
// (frame2.png before frame10.png), each decoded with FFmpeg.
#pragma once

#include <vector>

#include "dataloader/ffmpeg_util.h"
#include "dataloader/frame_source.h"

namespace wm::dataloader {

class ImageFolderReader : public FrameSource {
 public:
  ImageFolderReader(const std::filesystem::path& dir, const FrameSourceOptions& options);

  const FrameSourceInfo& info() const override { return info_; }
  bool read(uint8_t* rgb) override;
  void seek(int64_t index) override;
  int64_t position() const override { return position_; }

 private:
  // Decodes one image file into frame_.
  void decode_file(const std::filesystem::path& file);

  FrameSourceInfo info_;
  std::vector<std::filesystem::path> files_;
  std::vector<int64_t> output_to_file_;
  FramePtr frame_;
  PacketPtr packet_;
  RgbConverter converter_;
  int64_t position_ = 0;
};

}  // namespace wm::dataloader
