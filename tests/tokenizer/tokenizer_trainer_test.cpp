#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "test_support.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tokenizer/tokenizer_trainer.h"

namespace wm::tokenizer {
namespace {

TokenizerTrainOptions schedule(int64_t steps, int64_t warmup) {
  TokenizerTrainOptions o;
  o.steps = steps;
  o.warmup_steps = warmup;
  o.lr = 1e-3;
  o.min_lr_ratio = 0.1;
  o.batch_size = 4;
  return o;
}

TEST(TokenizerTrainer, WarmupThenCosineDownToTheFloor) {
  TokenizerTrainer trainer(VQModel(small_options()), schedule(20, 4), c10::Device(c10::kCPU), core::Precision::kFp32);
  const torch::Tensor frames = driving_frames(4, 32, 32, 3);
  std::vector<double> rates;
  for (int i = 0; i < 20; ++i) {
    rates.push_back(trainer.learning_rate());
    trainer.train_step(frames);
  }
  EXPECT_NEAR(rates[0], 0.25e-3, 1e-12);  // step 1 of 4 warm-up steps
  EXPECT_NEAR(rates[3], 1e-3, 1e-12);     // peak at the end of warm-up
  EXPECT_NEAR(rates[4], 1e-3, 1e-12);     // cosine starts at the peak
  for (int i = 5; i < 20; ++i) EXPECT_LT(rates[i], rates[i - 1]);
  EXPECT_NEAR(trainer.learning_rate(), 1e-4, 1e-12);  // the floor: lr * min_lr_ratio
  EXPECT_EQ(trainer.step(), 20);
}

TEST(TokenizerTrainer, CheckpointRestoresWeightsOptimizerAndStep) {
  torch::manual_seed(0);
  const torch::Tensor frames = driving_frames(4, 32, 32, 3);
  TokenizerTrainer trainer(VQModel(small_options()), schedule(100, 2), c10::Device(c10::kCPU), core::Precision::kFp32);
  for (int i = 0; i < 3; ++i) trainer.train_step(frames);
  test::TempDir dir;
  core::CheckpointWriter writer;
  trainer.save(writer);
  writer.save(dir / "t.ckpt");

  TokenizerTrainer restored(VQModel(small_options()), schedule(100, 2), c10::Device(c10::kCPU), core::Precision::kFp32);
  restored.restore(core::Checkpoint::load(dir / "t.ckpt"));
  EXPECT_EQ(restored.step(), 3);
  EXPECT_TRUE(torch::equal(restored.model()->encode(frames), trainer.model()->encode(frames)));
  // The same next step from the same state: identical weights afterwards.
  trainer.train_step(frames);
  restored.train_step(frames);
  const auto a = trainer.model()->parameters(), b = restored.model()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-6, 1e-7)) << i;

  // The checkpoint alone rebuilds the tokenizer, options included.
  const LoadedTokenizer loaded = load_tokenizer(dir / "t.ckpt", c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.model->options().vocab_size, 256);
  EXPECT_EQ(loaded.model->options().channel_mult, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_FALSE(loaded.content_hash.empty());
}

TEST(TokenizerTrainer, ACheckpointWithoutATokenizerIsNamed) {
  test::TempDir dir;
  core::CheckpointWriter writer;
  writer.set_counter("step", 1);
  writer.save(dir / "other.ckpt");
  EXPECT_NE(test::error_of([&] { load_tokenizer(dir / "other.ckpt", c10::Device(c10::kCPU)); }).find("holds no tokenizer"),
            std::string::npos);
}

}  // namespace
}  // namespace wm::tokenizer
