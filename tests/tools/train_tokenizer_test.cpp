// `wm train tokenizer` as a user runs it: a tiny run on collected driving episodes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/checkpoint.h"
#include "dataloader/video_test_support.h"
#include "test_support.h"

namespace wm {
namespace {

const std::string kSmallModel =
    " tokenizer.height=32 tokenizer.width=32 tokenizer.downsample=4 tokenizer.channel_mult=[1,2,2]"
    " tokenizer.base_channels=16 tokenizer.vocab_size=64 tokenizer.code_dim=8"
    " tokenizer_train.batch_size=4 tokenizer_train.eval_every=5 tokenizer_train.eval_frames=8"
    " log.every_steps=5 checkpoint.every_steps=5";

std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(TrainTokenizer, TrainsEvaluatesCheckpointsAndResumes) {
  test::TempDir dir;
  const std::string run = " run.out_dir=" + dir.path().string() + " run.name=t";
  const auto collect = test::run_command(test::wm_binary() + " collect --config configs/demo.yaml --steps 120 --policy expert" + run +
                                         " env.height=32 env.width=32 env.max_steps=30 env.num_envs=2");
  ASSERT_EQ(collect.exit_code, 0) << collect.err;

  const auto first = test::run_command(test::wm_binary() + " train tokenizer --config configs/demo.yaml" + run + kSmallModel +
                                       " tokenizer_train.steps=10");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto metrics = read_jsonl(dir / "t" / "metrics.jsonl");
  bool has_holdout = false, has_train = false;
  for (const auto& m : metrics) {
    has_holdout = has_holdout || m.contains("tokenizer/holdout_psnr_db");
    has_train = has_train || (m.contains("tokenizer/recon_l1") && m.contains("tokenizer/frames_per_s"));
  }
  EXPECT_TRUE(has_holdout);
  EXPECT_TRUE(has_train);
  EXPECT_TRUE(std::filesystem::exists(dir / "t" / "checkpoints" / "tokenizer_000000010.ckpt"));

  // The last step's evaluation (step 10, also an eval_every step) is logged once.
  int evaluations_at_10 = 0;
  for (const auto& m : metrics) evaluations_at_10 += m.contains("tokenizer/holdout_psnr_db") && m["step"] == 10;
  EXPECT_EQ(evaluations_at_10, 1);
  EXPECT_TRUE(std::filesystem::exists(dir / "t" / "configs" / "train_tokenizer.yaml"));

  // Training again beside the checkpoints without --resume is refused before anything changes.
  const std::string config_before = test::read_bytes(dir / "t" / "config.yaml");
  const auto again = test::run_command(test::wm_binary() + " train tokenizer --config configs/demo.yaml" + run + kSmallModel +
                                       " tokenizer_train.steps=20 run.seed=9");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already holds 2 tokenizer checkpoint(s), the newest tokenizer_000000010.ckpt: add --resume"), std::string::npos)
      << again.err;
  EXPECT_EQ(test::read_bytes(dir / "t" / "config.yaml"), config_before);

  // --resume with a longer schedule names the changed key, old and new.
  const auto resumed = test::run_command(test::wm_binary() + " train tokenizer --resume --config configs/demo.yaml" + run +
                                         kSmallModel + " tokenizer_train.steps=15");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  EXPECT_NE(resumed.err.find("tokenizer_train.steps 10 -> 15"), std::string::npos) << resumed.err;
  const auto checkpoint = core::Checkpoint::load(dir / "t" / "checkpoints" / "tokenizer_000000015.ckpt");
  EXPECT_EQ(checkpoint.counter("tokenizer_step"), 15);

  // --overwrite moves the old checkpoints and a copy of the metrics aside, and starts again.
  EXPECT_NE(test::run_command(test::wm_binary() + " train tokenizer --resume --overwrite --config configs/demo.yaml" + run).exit_code, 0);
  const auto over = test::run_command(test::wm_binary() + " train tokenizer --overwrite --config configs/demo.yaml" + run + kSmallModel +
                                      " tokenizer_train.steps=5");
  ASSERT_EQ(over.exit_code, 0) << over.err;
  std::vector<std::filesystem::path> aside;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "t" / "checkpoints")) {
    if (entry.is_directory() && entry.path().filename().string().starts_with("replaced_")) aside.push_back(entry.path());
  }
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(aside[0] / "tokenizer_000000015.ckpt"));
  EXPECT_TRUE(std::filesystem::exists(aside[0] / "metrics.jsonl"));
  EXPECT_TRUE(std::filesystem::exists(dir / "t" / "checkpoints" / "tokenizer_000000005.ckpt"));
  EXPECT_FALSE(std::filesystem::exists(dir / "t" / "checkpoints" / "tokenizer_000000015.ckpt"));
  for (const auto& m : read_jsonl(dir / "t" / "metrics.jsonl")) {
    if (m.contains("tokenizer/loss")) {
      EXPECT_LE(m["step"].get<int64_t>(), 5) << "a line of the replaced training is left: " << m.dump();
    }
  }
}

// Driving-game episodes and a video at once, the video weighted 3:1: held-out PSNR per
// source, each beside the PSNR of predicting its held-out frames as their mean frame.
TEST(TrainTokenizer, TrainsOnSeveralSourcesWithPerSourcePsnrAndTheMeanFrameBaseline) {
  test::TempDir dir;
  const std::string run = " run.out_dir=" + dir.path().string() + " run.name=t";
  ASSERT_EQ(test::run_command(test::wm_binary() + " collect --config configs/demo.yaml --steps 60 --policy expert" + run +
                              " env.height=32 env.width=32 env.max_steps=30 env.num_envs=1")
                .exit_code,
            0);
  test::write_video(dir / "clip.mp4", test::synthetic_frames(30, 32, 32), {.quality = 0});
  const std::string sources = " 'data.paths=[" + (dir / "t" / "episodes").string() + "," + (dir / "clip.mp4").string() +
                              "]' 'data.weights=[1,3]' dataset.height=32 dataset.width=32";
  const auto r = test::run_command(test::wm_binary() + " train tokenizer --config configs/demo.yaml" + run + kSmallModel + sources +
                                   " tokenizer_train.steps=5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("clip.mp4 (weight 3)"), std::string::npos) << r.err;
  nlohmann::json evaluation;
  for (const auto& m : read_jsonl(dir / "t" / "metrics.jsonl")) {
    if (m.contains("tokenizer/holdout_psnr_db")) evaluation = m;
  }
  ASSERT_FALSE(evaluation.is_null());
  for (const char* key : {"tokenizer/holdout_psnr_db", "tokenizer/holdout_mean_frame_psnr_db", "tokenizer/holdout_psnr_db/episodes",
                          "tokenizer/holdout_mean_frame_psnr_db/episodes", "tokenizer/holdout_psnr_db/clip.mp4",
                          "tokenizer/holdout_mean_frame_psnr_db/clip.mp4"}) {
    ASSERT_TRUE(evaluation.contains(key)) << key << " in " << evaluation.dump();
    EXPECT_GT(evaluation[key].get<double>(), 0.0) << key;
  }
  EXPECT_NE(r.err.find("clip.mp4 "), std::string::npos);
  EXPECT_NE(r.err.find("(mean frame "), std::string::npos) << r.err;

  const auto bad = test::run_command(test::wm_binary() + " train tokenizer --config configs/demo.yaml" + run + " run.name=fresh" + kSmallModel + sources +
                                     " 'data.weights=[1]'");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("data.weights has 1 entries for 2 data.paths"), std::string::npos) << bad.err;
}

TEST(TrainTokenizer, FramesOfAnotherSizeAreAOneLineError) {
  test::TempDir dir;
  const std::string run = " run.out_dir=" + dir.path().string() + " run.name=t";
  ASSERT_EQ(test::run_command(test::wm_binary() + " collect --config configs/demo.yaml --steps 40 env.max_steps=20 env.num_envs=1" + run).exit_code, 0);
  const auto r = test::run_command(test::wm_binary() + " train tokenizer --config configs/demo.yaml" + run + kSmallModel);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("are 64x64x3 but tokenizer.height/width say 32x32"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wm
