#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dataloader/action_sidecar.h"
#include "test_support.h"

namespace wm::dataloader {
namespace {

using test::error_of;

TEST(ActionSidecar, FrameColumnAlignsRowsToFramesWhateverTheirOrder) {
  test::TempDir dir;
  test::write_text(dir / "a.csv", "frame,steer,gas\n2,0.5,1\n0,-1,0\n1,0.25,0.5\n");
  const SidecarData data = read_action_sidecar(dir / "a.csv", {}, /*frames=*/3, /*fps=*/10);
  EXPECT_EQ(data.action_names, (std::vector<std::string>{"steer", "gas"}));
  ASSERT_EQ(data.actions.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_FLOAT_EQ(data.actions[0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(data.actions[2][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(data.actions[1][1].item<float>(), 0.5f);
}

TEST(ActionSidecar, TimeColumnTakesTheNearestRowOrInterpolates) {
  test::TempDir dir;
  // Rows at 0, 0.3 and 0.6 s; frames at 10 fps: 0.0, 0.1, ..., 0.6.
  test::write_text(dir / "a.csv", "time_s,steer,reward,done\n0.0,0,1,0\n0.3,3,2,0\n0.6,6,3,1\n");
  SidecarOptions options;
  options.reward_column = "reward";
  options.done_column = "done";
  const SidecarData nearest = read_action_sidecar(dir / "a.csv", options, 7, 10);
  EXPECT_EQ(nearest.action_names, std::vector<std::string>{"steer"});
  EXPECT_FLOAT_EQ(nearest.actions[1][0].item<float>(), 0.0f);  // 0.1 s -> row 0.0
  EXPECT_FLOAT_EQ(nearest.actions[2][0].item<float>(), 3.0f);  // 0.2 s -> row 0.3
  EXPECT_EQ(nearest.dones[6].item<uint8_t>(), 1);
  EXPECT_EQ(nearest.dones[5].item<uint8_t>(), 1);  // 0.5 s is nearest to the 0.6 s row
  EXPECT_EQ(nearest.dones[4].item<uint8_t>(), 0);
  options.interpolation = "linear";
  const SidecarData linear = read_action_sidecar(dir / "a.csv", options, 7, 10);
  EXPECT_NEAR(linear.actions[1][0].item<float>(), 1.0f, 1e-5);
  EXPECT_NEAR(linear.actions[5][0].item<float>(), 5.0f, 1e-5);
  EXPECT_NEAR(linear.rewards[4].item<float>(), 2.0f + 1.0f / 3.0f, 1e-5);
}

TEST(ActionSidecar, DiscreteBinsCombineColumnsIntoOneIndex) {
  test::TempDir dir;
  test::write_text(dir / "a.csv", "frame,steer,gas\n0,-0.5,0\n1,0,1\n2,0.5,1\n");
  SidecarOptions options;
  options.continuous = false;
  options.bins = {"-0.1 0.1", "0.5"};  // steer: 3 bins, gas: 2 bins -> 6 actions
  const SidecarData data = read_action_sidecar(dir / "a.csv", options, 3, 10);
  EXPECT_EQ(data.discrete_actions, 6);
  EXPECT_EQ(data.actions.scalar_type(), torch::kInt64);
  EXPECT_EQ(data.actions[0].item<int64_t>(), 0 * 2 + 0);
  EXPECT_EQ(data.actions[1].item<int64_t>(), 1 * 2 + 1);
  EXPECT_EQ(data.actions[2].item<int64_t>(), 2 * 2 + 1);
  options.bins = {"-0.1 0.1"};
  EXPECT_NE(error_of([&] { read_action_sidecar(dir / "a.csv", options, 3, 10); }).find("one list of edges per column"),
            std::string::npos);
}

TEST(ActionSidecar, BadInputNamesTheFileAndLine) {
  test::TempDir dir;
  const auto path = dir / "a.csv";
  test::write_text(path, "frame,steer\n0,0.1\n1,left\n");
  EXPECT_NE(error_of([&] { read_action_sidecar(path, {}, 2, 10); }).find(path.string() + ":3: column 'steer' is 'left', not a number"),
            std::string::npos);
  test::write_text(path, "frame,steer\n0,0.1\n1,0.2\n");
  SidecarOptions missing;
  missing.action_columns = {"steer", "brake"};
  EXPECT_NE(error_of([&] { read_action_sidecar(path, missing, 2, 10); }).find(path.string() + ":1: no column 'brake' (columns: frame, steer)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_action_sidecar(path, {}, 3, 10); }).find("no row for frame 2 (the video has 3 frames"),
            std::string::npos);
  test::write_text(path, "time_s,steer\n0,0\n0.1,1\n");
  EXPECT_NE(error_of([&] { read_action_sidecar(path, {}, 5, 10); }).find("but frame 2 is at 0.2"), std::string::npos);
  test::write_text(path, "frame,steer\n0,1,2\n");
  EXPECT_NE(error_of([&] { read_action_sidecar(path, {}, 1, 10); }).find(":2: 3 cells, but the header has 2"), std::string::npos);
  // NaN and infinity parse as numbers but would make every loss NaN: refused, naming the line.
  for (const char* bad : {"nan", "inf", "-inf"}) {
    test::write_text(path, std::string("frame,steer\n0,0.1\n1,") + bad + "\n");
    EXPECT_NE(error_of([&] { read_action_sidecar(path, {}, 2, 10); }).find(path.string() + ":3: column 'steer' is '" + bad + "', not a finite number"),
              std::string::npos)
        << bad;
  }
}

}  // namespace
}  // namespace wm::dataloader
