// `wm data import` as a user runs it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dataloader/episode_store.h"
#include "dataloader/video_test_support.h"
#include "test_support.h"

namespace wm {
namespace {

TEST(DataImport, DecodesADatasetIntoAnEpisodeStoreSkippingTheCorruptFile) {
  test::TempDir dir;
  const at::Tensor frames = test::synthetic_frames(12, 48, 64);
  test::write_video(dir / "data" / "a.mp4", frames, {.quality = 0});
  test::write_video(dir / "data" / "sub" / "b.mkv", frames, {.quality = 0});
  test::write_text(dir / "data" / "sub" / "broken.mp4", "garbage");
  for (const char* name : {"a.csv", "sub/b.csv"}) {
    std::string csv = "frame,steer,gas\n";
    for (int i = 0; i < 12; ++i) csv += std::to_string(i) + "," + std::to_string(i) + ",1\n";
    test::write_text(dir / "data" / name, csv);
  }
  const auto store_dir = dir / "store";
  const auto r = test::run_command(test::wm_binary() + " data import " + (dir / "data").string() + " --out " +
                                   store_dir.string() + " dataset.height=32 dataset.width=32 dataset.segment_frames=5");
  EXPECT_NE(r.exit_code, 0);  // one source failed: the run says so
  EXPECT_NE(r.err.find("1 source(s) could not be imported"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("broken.mp4"), std::string::npos) << r.err;

  dataloader::EpisodeStore store(store_dir, dataloader::EpisodeStore::Mode::kRead);
  ASSERT_EQ(store.num_episodes(), 6);  // two videos of 12 frames in segments of 5, 5, 2
  const dataloader::Episode first = store.load(0);
  EXPECT_EQ(first.frames.sizes(), (std::vector<int64_t>{5, 32, 32, 3}));
  EXPECT_EQ(first.actions.sizes(), (std::vector<int64_t>{5, 2}));
  EXPECT_FLOAT_EQ(store.load(1).actions[0][0].item<float>(), 5.0f);
  EXPECT_EQ(store.load(2).dones[1].item<uint8_t>(), 1);

  const auto numpy = test::run_command(test::venv_python() + " tests/python/npy_check.py read " +
                                       (store_dir / "ep_000003" / "frames.npy").string());
  EXPECT_EQ(numpy.exit_code, 0) << numpy.err;
}

TEST(DataImport, NoInputOrNoVideosIsAOneLineError) {
  test::TempDir dir;
  test::write_text(dir / "empty" / "readme.txt", "no videos here");
  const auto r = test::run_command(test::wm_binary() + " data import " + (dir / "empty").string() + " --out " +
                                   (dir / "store").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no usable video"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace wm
