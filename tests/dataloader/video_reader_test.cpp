#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "dataloader/frame_source.h"
#include "dataloader/video_test_support.h"
#include "test_support.h"

namespace wm::dataloader {
namespace {

using test::error_of;

struct CodecCase {
  std::string file;
  std::string codec;
  int quality;
};

TEST(VideoReader, DecodesEachContainerAndCodecToTheOriginalFramesWithExactCounts) {
  test::TempDir dir;
  const at::Tensor original = test::synthetic_frames(30, 48, 64);
  std::vector<CodecCase> cases = {{"a.mp4", "libx264", 0}, {"b.mkv", "libx264", 0}, {"c.avi", "mpeg4", 1}};
  if (test::has_encoder("libx265")) cases.push_back({"d.hevc", "libx265", 0});
  for (const auto& c : cases) {
    test::write_video(dir / c.file, original, {.codec = c.codec, .fps = 10, .quality = c.quality});
    auto source = open_frame_source(dir / c.file, {});
    EXPECT_EQ(source->info().frames, 30) << c.file;
    EXPECT_EQ(source->info().height, 48);
    EXPECT_EQ(source->info().width, 64);
    const at::Tensor decoded = read_frames(*source);
    ASSERT_EQ(decoded.sizes(), original.sizes()) << c.file;
    for (int64_t i = 0; i < 30; ++i) {
      EXPECT_GT(test::psnr(decoded[i], original[i]), 35.0) << c.file << " frame " << i;
    }
  }
  test::write_png_folder(dir / "pngs", original);
  auto folder = open_frame_source(dir / "pngs", {});
  EXPECT_EQ(folder->info().frames, 30);
  EXPECT_EQ(folder->info().codec, "png");
  EXPECT_TRUE(torch::equal(read_frames(*folder), original));  // PNG is lossless
}

TEST(VideoReader, SeekingReturnsTheSameFramesAsReadingInOrder) {
  test::TempDir dir;
  test::write_video(dir / "v.mp4", test::synthetic_frames(40, 32, 32), {.quality = 10});
  auto source = open_frame_source(dir / "v.mp4", {});
  const at::Tensor all = read_frames(*source);
  for (int64_t index : {37, 3, 12, 13, 0, 39, 25, 24}) {  // forwards, backwards, across keyframes
    EXPECT_TRUE(torch::equal(read_frames(*source, index, 1)[0], all[index])) << index;
  }
  EXPECT_TRUE(torch::equal(read_frames(*source, 30, 10), all.narrow(0, 30, 10)));
  EXPECT_NE(error_of([&] { source->seek(41); }).find("cannot seek to frame 41 of 40"), std::string::npos);
}

TEST(VideoReader, ResizesWithACentreCropAndResamplesTheFrameRate) {
  test::TempDir dir;
  // Frame i is a flat grey of 5 * i: resampled frames tell which source frame they show.
  const int64_t n = 40;
  const at::Tensor levels = (torch::arange(n) * 5).to(torch::kUInt8).view({n, 1, 1, 1}).expand({n, 32, 64, 3}).contiguous();
  test::write_video(dir / "v.mkv", levels, {.fps = 20, .quality = 0});
  FrameSourceOptions options;
  options.fps = 10;
  options.height = 16;
  options.width = 16;
  auto source = open_frame_source(dir / "v.mkv", options);
  EXPECT_DOUBLE_EQ(source->info().source_fps, 20.0);
  EXPECT_EQ(source->info().frames, 20);
  const at::Tensor frames = read_frames(*source);
  ASSERT_EQ(frames.sizes(), (std::vector<int64_t>{20, 16, 16, 3}));
  for (int64_t k = 0; k < 20; ++k) {
    EXPECT_NEAR(frames[k].to(torch::kFloat32).mean().item<double>(), 5.0 * (2 * k), 1.5) << k;
  }

  // A 64x32 frame with a 16-pixel bar at each side: the centre crop to 1:1 cuts both bars.
  at::Tensor bars = torch::full({4, 32, 64, 3}, 100, torch::kUInt8);
  bars.narrow(2, 0, 16).fill_(250);
  bars.narrow(2, 48, 16).fill_(250);
  test::write_video(dir / "bars.mkv", bars, {.quality = 0});
  FrameSourceOptions crop;
  crop.height = 8;
  crop.width = 8;
  const at::Tensor cropped = read_frames(*open_frame_source(dir / "bars.mkv", crop));
  EXPECT_LT(cropped.to(torch::kFloat32).max().item<double>(), 110.0);
  crop.center_crop = false;
  const at::Tensor squeezed = read_frames(*open_frame_source(dir / "bars.mkv", crop));
  EXPECT_GT(squeezed.to(torch::kFloat32).max().item<double>(), 240.0);
}

TEST(VideoReader, ATruncatedFileIsAnErrorNamingTheFile) {
  test::TempDir dir;
  test::write_video(dir / "v.mp4", test::synthetic_frames(30, 32, 32), {});
  const auto size = std::filesystem::file_size(dir / "v.mp4");
  std::filesystem::copy_file(dir / "v.mp4", dir / "cut.mp4");
  std::filesystem::resize_file(dir / "cut.mp4", size * 6 / 10);
  const std::string message = error_of([&] { read_frames(*open_frame_source(dir / "cut.mp4", {})); });
  EXPECT_NE(message.find((dir / "cut.mp4").string()), std::string::npos) << message;
  EXPECT_NE(message.find("bytes"), std::string::npos) << message;
}

TEST(VideoReader, CorruptDataIsAnErrorNamingTheFrame) {
  test::TempDir dir;
  test::write_video(dir / "v.mp4", test::synthetic_frames(30, 64, 64), {.quality = 10});
  std::string bytes = test::read_bytes(dir / "v.mp4");
  // Garbage over the middle of the compressed frames (mdat); the index stays intact.
  const size_t mdat = bytes.find("mdat");
  ASSERT_NE(mdat, std::string::npos);
  const size_t moov = bytes.find("moov");
  const size_t middle = mdat + (std::min(moov, bytes.size()) - mdat) / 2;
  for (size_t i = middle; i < middle + 400; ++i) bytes[i] = static_cast<char>((i * 7919) >> 3);
  std::ofstream(dir / "bad.mp4", std::ios::binary) << bytes;
  const std::string message = error_of([&] { read_frames(*open_frame_source(dir / "bad.mp4", {})); });
  EXPECT_NE(message.find((dir / "bad.mp4").string()), std::string::npos) << message;
  EXPECT_NE(message.find("frame"), std::string::npos) << message;
}

TEST(VideoReader, AnUnsupportedCodecIsNamed) {
  test::TempDir dir;
  test::write_video(dir / "v.avi", test::synthetic_frames(3, 16, 16), {.quality = 2});
  std::string bytes = test::read_bytes(dir / "v.avi");
  for (size_t p = bytes.find("FMP4"); p != std::string::npos; p = bytes.find("FMP4", p)) bytes.replace(p, 4, "QQQQ");
  std::ofstream(dir / "odd.avi", std::ios::binary) << bytes;
  const std::string message = error_of([&] { open_frame_source(dir / "odd.avi", {}); });
  EXPECT_NE(message.find("codec"), std::string::npos) << message;
  EXPECT_NE(message.find("not supported"), std::string::npos) << message;
}

}  // namespace
}  // namespace wm::dataloader
