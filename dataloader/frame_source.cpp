#include "dataloader/frame_source.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "dataloader/image_folder_reader.h"
#include "dataloader/video_reader.h"

namespace wm::dataloader {

namespace {

std::string lower_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

}  // namespace

bool is_image_file(const std::filesystem::path& path) {
  const std::string ext = lower_extension(path);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

bool is_video_file(const std::filesystem::path& path) {
  static const char* kVideo[] = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".hevc", ".h265", ".h264", ".264", ".265", ".ts", ".m4v", ".flv", ".mpg", ".mpeg"};
  const std::string ext = lower_extension(path);
  return std::any_of(std::begin(kVideo), std::end(kVideo), [&](const char* v) { return ext == v; });
}

std::unique_ptr<FrameSource> open_frame_source(const std::filesystem::path& path, const FrameSourceOptions& options) {
  if (!std::filesystem::exists(path)) throw core::Error(path.string() + ": no such file or folder");
  if (std::filesystem::is_directory(path)) return std::make_unique<ImageFolderReader>(path, options);
  return std::make_unique<VideoReader>(path, options);
}

at::Tensor read_frames(FrameSource& source, int64_t start, int64_t count) {
  const FrameSourceInfo& info = source.info();
  if (count < 0) count = info.frames - start;
  if (start < 0 || count < 0 || start + count > info.frames) {
    throw core::Error(info.path + ": frames [" + std::to_string(start) + ", " + std::to_string(start + count) +
                      ") are outside 0.." + std::to_string(info.frames));
  }
  at::Tensor frames = torch::empty({count, info.height, info.width, 3}, torch::kUInt8);
  if (source.position() != start) source.seek(start);
  auto* out = frames.data_ptr<uint8_t>();
  const int64_t bytes = int64_t{info.height} * info.width * 3;
  for (int64_t i = 0; i < count; ++i) {
    if (!source.read(out + i * bytes)) {
      throw core::Error(info.path + ": ended after " + std::to_string(start + i) + " of " + std::to_string(info.frames) + " frames");
    }
  }
  return frames;
}

}  // namespace wm::dataloader
