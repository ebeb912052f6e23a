// `wm train dynamics` as a user runs it: driving episodes -> token shards -> a tiny world
// model, with held-out evaluation, baselines, checkpoints and --resume.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "core/checkpoint.h"
#include "dynamics/dream_precision.h"
#include "dynamics/dynamics_checkpoint.h"
#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

using test::TinyDrivingRun;

using test::last_with;

class TrainDynamics : public TinyDrivingRun {};

TEST_F(TrainDynamics, TrainsOnTokenShardsWithBaselinesAndResumes) {
  const auto dump = test::run_command(test::wm_binary() + " tokens dump --tokenizer " + (dir_ / "tok.ckpt").string() + " --out " +
                                      (dir_ / "tokens").string() + " " + (dir_ / "d" / "episodes").string() + " run.device=cpu");
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  const std::string data = " data.path=" + (dir_ / "tokens").string();
  const auto r = test::run_command(test::wm_binary() + " train dynamics --config configs/demo.yaml" + run_ + data + kTinyModel +
                                   " dynamics_train.steps=10");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("9 discrete actions"), std::string::npos) << r.err;  // read from the data
  const auto metrics = dir_ / "d" / "metrics.jsonl";
  const auto held_out = last_with(metrics, "dynamics/holdout_next_frame_bits");
  ASSERT_FALSE(held_out.is_null());
  EXPECT_GT(held_out["dynamics/holdout_next_frame_bits"].get<double>(), 0.0);
  const auto baselines = last_with(metrics, "dynamics/holdout_unigram_bits");
  ASSERT_FALSE(baselines.is_null());
  EXPECT_LE(baselines["dynamics/holdout_unigram_bits"].get<double>(), 8.0 + 1e-9);  // log2(256)
  EXPECT_GT(last_with(metrics, "dynamics/tokens_per_s")["dynamics/tokens_per_s"].get<double>(), 0.0);

  const auto checkpoint = dir_ / "d" / "checkpoints" / "dynamics_000000010.ckpt";
  ASSERT_TRUE(std::filesystem::exists(checkpoint));
  const auto loaded = dynamics::load_dynamics(checkpoint, c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.model->options().tokens_per_frame, 64);
  EXPECT_EQ(loaded.model->options().vocab_size, 256);

  const auto resumed = test::run_command(test::wm_binary() + " train dynamics --config configs/demo.yaml" + run_ + data + kTinyModel +
                                         " dynamics_train.steps=15 --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  EXPECT_EQ(core::Checkpoint::load(dir_ / "d" / "checkpoints" / "dynamics_000000015.ckpt").counter("dynamics_step"), 15);
}

// wm bench precision reads the run's own config, checkpoint and held-out windows.
TEST_F(TrainDynamics, BenchPrecisionComparesBf16WithFp32OnTheRunsHeldOutWindows) {
  train_tiny_dynamics(5);
  // A run config that says a longer context than the checkpoint's model (another command
  // rewrote it): the windows follow the model.
  const auto config = dir_ / "d" / "config.yaml";
  std::string yaml = test::read_bytes(config);
  const size_t at = yaml.find("context_steps: 4");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, 16, "context_steps: 9");
  test::write_text(config, yaml);
  const auto bench = test::run_command(test::wm_binary() + " bench precision --run " + (dir_ / "d").string() + " --batches 2 --batch 3 --json");
  if (!core::cpu_has_bf16()) {
    EXPECT_NE(bench.exit_code, 0);
    EXPECT_NE(bench.err.find("bf16"), std::string::npos) << bench.err;
    return;
  }
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  std::istringstream lines(bench.out);
  std::map<std::string, nlohmann::json> records;
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    records[j["metric"].get<std::string>()] = j;
  }
  ASSERT_EQ(records.size(), 2u) << bench.out;
  const auto& agreement = records["bf16_top1_agreement"];
  EXPECT_EQ(agreement["windows"].get<int64_t>(), 6);
  EXPECT_GT(agreement["rows"].get<int64_t>(), 0);
  EXPECT_GE(agreement["value"].get<double>(), 0.0);
  EXPECT_LE(agreement["value"].get<double>(), 1.0);
  const double kl = records["bf16_kl_nats_per_token"]["value"].get<double>();
  EXPECT_TRUE(std::isfinite(kl) && kl >= -1e-6) << kl;

  const auto not_a_run = test::run_command(test::wm_binary() + " bench precision --run " + dir_.path().string());
  EXPECT_NE(not_a_run.exit_code, 0);
  EXPECT_NE(not_a_run.err.find("config.yaml"), std::string::npos) << not_a_run.err;
}

TEST_F(TrainDynamics, TokenizesFramesOnTheFlyWithAFrozenTokenizer) {
  const auto r = test::run_command(test::wm_binary() + " train dynamics --config configs/demo.yaml" + run_ + kTinyModel +
                                   " data.path=" + (dir_ / "d" / "episodes").string() + " dynamics_train.steps=5 dynamics_train.tokenizer=" +
                                   (dir_ / "tok.ckpt").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "d" / "checkpoints" / "dynamics_000000005.ckpt"));

  const auto missing = test::run_command(test::wm_binary() + " train dynamics --config configs/demo.yaml" + run_ + " run.name=fresh" + kTinyModel +
                                         " data.path=" + (dir_ / "d" / "episodes").string() + " dynamics_train.steps=5");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("set dynamics_train.tokenizer"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace wm
