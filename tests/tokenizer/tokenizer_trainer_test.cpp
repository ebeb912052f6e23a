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

// Before the first restart check (restart_every steps) the usage is that of the steps so
// far, then that of the last full span: never 0 while the batches use codes.
TEST(TokenizerTrainer, CodebookUsageIsReportedBeforeTheFirstRestartCheck) {
  torch::manual_seed(0);
  const torch::Tensor frames = driving_frames(4, 32, 32, 3);
  TokenizerOptions options = small_options();
  options.restart_every = 5;
  TokenizerTrainer trainer(VQModel(options), schedule(100, 2), c10::Device(c10::kCPU), core::Precision::kFp32);
  for (int i = 1; i <= 7; ++i) {
    const core::Scalars scalars = trainer.train_step(frames);
    const double usage = core::find_scalar(scalars, "tokenizer/codebook_usage").value();
    // Every step's batch uses at least one code, and at most all 256.
    EXPECT_GT(usage, 0.0) << "step " << i;
    EXPECT_LE(usage, 1.0) << "step " << i;
    if (i < 5) {
      const double used = (trainer.model()->quantizer()->recent_counts() > 0).sum().item<double>();
      EXPECT_DOUBLE_EQ(usage, used / 256.0) << "step " << i << ": the codes used so far";
    }
  }
}

// Frames and a batch far beyond the machine's memory: one line with the estimate, before
// a step allocates anything.
TEST(TokenizerTrainer, AStepThatCannotFitInMemoryIsRefusedWithTheEstimate) {
  const VQModel model(small_options(2048, 2048));
  TokenizerTrainOptions options = schedule(10, 1);
  options.batch_size = 256;
  const core::MemoryEstimate needs = estimate_training_memory(model, 256, core::Precision::kFp32);
  // At least the full-resolution maps: 256 frames x 2 x 5 maps x 16 channels x 2048 x 2048 fp32 values.
  EXPECT_GE(needs.activations, 256.0 * 2 * 5 * 16 * 2048 * 2048 * 4);
  if (needs.total() <= static_cast<double>(core::available_memory_bytes())) GTEST_SKIP() << "this machine has the memory";
  const std::string error = test::error_of([&] { TokenizerTrainer(model, options, c10::Device(c10::kCPU), core::Precision::kFp32); });
  EXPECT_NE(error.find("training the tokenizer (2048x2048 frames"), std::string::npos) << error;
  EXPECT_NE(error.find("this machine has available; lower tokenizer_train.batch_size"), std::string::npos) << error;
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
