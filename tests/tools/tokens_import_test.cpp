// `wm tokens import` as a user runs it: commaVQ-shaped token arrays (int16, [T, 128] and
// [T, 8, 16], vocabulary 1024, no actions) become a token dump that `wm tokens info` passes
// and `wm train dynamics` trains on directly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/npy.h"
#include "dynamics/dynamics_checkpoint.h"
#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

TEST(TokensImport, CommaStyleArraysOfBothShapesTrainTheDynamicsModelDirectly) {
  test::TempDir dir;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  std::filesystem::create_directories(dir / "segments");
  core::write_npy(dir / "segments" / "a.npy", torch::randint(0, 1024, {40, 128}, gen, torch::kInt64).to(torch::kInt16));
  core::write_npy(dir / "segments" / "b.npy", torch::randint(0, 1024, {40, 8, 16}, gen, torch::kInt64).to(torch::kInt16));
  const std::string tokens = (dir / "tokens").string();
  const auto imported = test::run_command(test::wm_binary() + " tokens import " + (dir / "segments").string() + " --out " + tokens +
                                          " --grid 8x16 --vocab 1024 --fps 20");
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.err.find("imported 2 file(s), 80 frames (8x16 tokens of 1024)"), std::string::npos) << imported.err;
  const auto info = test::run_command(test::wm_binary() + " tokens info " + tokens);
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("integrity: 2 of 2 shards sound"), std::string::npos) << info.out;

  const auto trained = test::run_command(test::wm_binary() + " train dynamics --config configs/demo.yaml run.out_dir=" + dir.path().string() +
                                         " run.name=d data.path=" + tokens + test::TinyDrivingRun::kTinyModel + " dynamics_train.steps=5");
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const auto loaded = dynamics::load_dynamics(dir / "d" / "checkpoints" / "dynamics_000000005.ckpt", c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.model->options().tokens_per_frame, 128);
  EXPECT_EQ(loaded.model->options().vocab_size, 1024);
}

TEST(TokensImport, ABadGridOrABadFileIsOneLineAndANonZeroExit) {
  test::TempDir dir;
  core::write_npy(dir / "a.npy", torch::full({3, 128}, 1024, torch::kInt16));
  const auto bad_grid = test::run_command(test::wm_binary() + " tokens import " + (dir / "a.npy").string() + " --out " +
                                          (dir / "t").string() + " --grid 8by16");
  EXPECT_NE(bad_grid.exit_code, 0);
  EXPECT_NE(bad_grid.err.find("--grid 8by16 is not HEIGHTxWIDTH"), std::string::npos) << bad_grid.err;
  const auto out_of_range = test::run_command(test::wm_binary() + " tokens import " + (dir / "a.npy").string() + " --out " +
                                              (dir / "t").string() + " --grid 8x16");
  EXPECT_NE(out_of_range.exit_code, 0);
  EXPECT_NE(out_of_range.err.find("a.npy: token id 1024 at frame 0, place (0, 0) is outside the vocabulary 0..1023"), std::string::npos)
      << out_of_range.err;
}

}  // namespace
}  // namespace wm
