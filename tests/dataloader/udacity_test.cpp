// The real recording in ../shared/data/udacity-sim (skipped when absent).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dataloader/action_sidecar.h"
#include "dataloader/frame_source.h"
#include "dataloader/video_dataset.h"
#include "dataloader/video_test_support.h"
#include "test_support.h"
#include "wm/build_config.h"

namespace wm::dataloader {
namespace {

const std::filesystem::path kData = std::filesystem::path(WM_SOURCE_DIR) / ".." / "shared" / "data" / "udacity-sim";

#define SKIP_WITHOUT_DATA() \
  if (!std::filesystem::exists(kData / "center.mp4")) GTEST_SKIP() << kData << " is absent"

TEST(UdacityRecording, DecodesTo613FramesOf320x160) {
  SKIP_WITHOUT_DATA();
  auto source = open_frame_source(kData / "center.mp4", {});
  EXPECT_EQ(source->info().frames, 613);
  EXPECT_EQ(source->info().width, 320);
  EXPECT_EQ(source->info().height, 160);
  EXPECT_EQ(source->info().codec, "h264");
  EXPECT_EQ(read_frames(*source).size(0), 613);
}

TEST(UdacityRecording, ActionsAlignOneRowPerFrame) {
  SKIP_WITHOUT_DATA();
  const SidecarData data = read_action_sidecar(kData / "actions.csv", {}, 613, 10);
  EXPECT_EQ(data.action_names, (std::vector<std::string>{"steering", "throttle", "brake", "speed"}));
  ASSERT_EQ(data.actions.sizes(), (std::vector<int64_t>{613, 4}));
  EXPECT_NEAR(data.actions[612][3].item<float>(), 0.0116822f, 1e-6);  // the last row's speed
  EXPECT_GT(data.actions.select(1, 3).max().item<float>(), 25.0f);     // it reaches ~30 mph
}

TEST(UdacityRecording, FirstFrameMatchesItsSourceJpegAndTheImageFolderMatchesTheVideo) {
  SKIP_WITHOUT_DATA();
  auto video = open_frame_source(kData / "center.mp4", {});
  const at::Tensor video_frames = read_frames(*video, 0, 60);
  auto jpeg = open_frame_source(kData / "frames" / "00000.jpg", {});  // one image as a "video"
  const at::Tensor first = read_frames(*jpeg);
  EXPECT_GT(test::psnr(video_frames[0], first[0]), 30.0);  // H.264 at CRF 23 of the JPEG

  auto folder = open_frame_source(kData / "frames", {});
  EXPECT_EQ(folder->info().frames, 60);
  const at::Tensor images = read_frames(*folder);
  for (int64_t i = 0; i < 60; ++i) EXPECT_GT(test::psnr(video_frames[i], images[i]), 30.0) << i;
}

TEST(UdacityRecording, ATruncatedCopyGivesACleanErrorAndTheDatasetKeepsTheGoodFiles) {
  SKIP_WITHOUT_DATA();
  test::TempDir dir;
  std::filesystem::copy_file(kData / "center.mp4", dir / "good.mp4");
  std::filesystem::copy_file(kData / "center.mp4", dir / "cut.mp4");
  std::filesystem::resize_file(dir / "cut.mp4", std::filesystem::file_size(dir / "cut.mp4") / 2);
  const std::string message = test::error_of([&] { read_frames(*open_frame_source(dir / "cut.mp4", {})); });
  EXPECT_NE(message.find((dir / "cut.mp4").string()), std::string::npos) << message;
  EXPECT_NE(message.find("byte"), std::string::npos) << message;

  VideoDatasetOptions options;
  options.frames.height = 64;
  options.frames.width = 64;
  VideoDataset dataset({dir.path()}, options);
  EXPECT_EQ(dataset.num_episodes(), 1);
  EXPECT_EQ(dataset.skipped().size(), 1u);
  EXPECT_EQ(dataset.load(0).frames.sizes(), (std::vector<int64_t>{613, 64, 64, 3}));
}

}  // namespace
}  // namespace wm::dataloader
