#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "dataloader/episode_store.h"
#include "dataloader/video_dataset.h"
#include "dataloader/video_test_support.h"
#include "dataloader/window_sampler.h"
#include "test_support.h"

namespace wm::dataloader {
namespace {

TEST(VideoDataset, FindsVideosAndImageFoldersRecursivelyWithTheGlob) {
  test::TempDir dir;
  const at::Tensor frames = test::synthetic_frames(6, 32, 32);
  test::write_video(dir / "a" / "one.mp4", frames, {});
  test::write_video(dir / "a" / "b" / "two.mkv", frames, {});
  test::write_png_folder(dir / "a" / "cam", frames);
  test::write_text(dir / "a" / "notes.txt", "not a video");
  const auto all = VideoDataset::find_sources({dir.path()}, "*");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], dir / "a" / "b" / "two.mkv");
  EXPECT_EQ(all[1], dir / "a" / "cam");
  const auto mp4 = VideoDataset::find_sources({dir.path()}, "*.mp4");
  ASSERT_EQ(mp4.size(), 1u);
  EXPECT_EQ(mp4[0], dir / "a" / "one.mp4");
}

TEST(VideoDataset, SegmentsCarryTheirActionsAndOnlyTheVideoEndIsDone) {
  test::TempDir dir;
  test::write_video(dir / "drive.mkv", test::synthetic_frames(10, 32, 32), {.quality = 0});
  std::string csv = "frame,steer\n";
  for (int i = 0; i < 10; ++i) csv += std::to_string(i) + "," + std::to_string(i * 0.1) + "\n";
  test::write_text(dir / "drive.csv", csv);
  VideoDatasetOptions options;
  options.segment_frames = 4;
  VideoDataset dataset({dir / "drive.mkv"}, options);
  ASSERT_EQ(dataset.num_episodes(), 3);  // 4 + 4 + 2 frames
  EXPECT_EQ(dataset.episode_length(2), 2);
  EXPECT_EQ(dataset.action_dim(), 1);
  const Episode second = dataset.load(1);
  EXPECT_NEAR(second.actions[0][0].item<float>(), 0.4f, 1e-6);
  EXPECT_EQ(second.dones.sum().item<int64_t>(), 0);  // a segment boundary is not an episode end
  EXPECT_EQ(dataset.load(2).dones[1].item<uint8_t>(), 1);

  // Windows sampled straight from the videos hold the frames the episodes hold.
  WindowSamplerOptions sampler_options;
  sampler_options.window = 3;
  sampler_options.batch = 4;
  WindowSampler sampler(std::shared_ptr<const WindowSource>(&dataset, [](const WindowSource*) {}), sampler_options);
  const WindowBatch batch = sampler.sample();
  for (int64_t b = 0; b < 4; ++b) {
    const auto [episode, last] = sampler.last_origins()[b];
    const Episode e = dataset.load(episode);
    EXPECT_TRUE(torch::equal(batch.observations[b][2], e.frames[last]));
  }
}

TEST(VideoDataset, ACorruptSourceIsSkippedAndTheOthersKept) {
  test::TempDir dir;
  const at::Tensor frames = test::synthetic_frames(5, 32, 32);
  test::write_video(dir / "good1.mp4", frames, {});
  test::write_video(dir / "good2.mp4", frames, {});
  test::write_text(dir / "broken.mp4", "this is not a video at all");
  VideoDataset dataset({dir.path()}, {});
  EXPECT_EQ(dataset.num_episodes(), 2);
  ASSERT_EQ(dataset.skipped().size(), 1u);
  EXPECT_NE(dataset.skipped()[0].find("broken.mp4"), std::string::npos);
}

}  // namespace
}  // namespace wm::dataloader
