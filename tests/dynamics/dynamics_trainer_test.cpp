#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "dynamics/dynamics_test_support.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/kv_cache.h"
#include "dynamics/token_baselines.h"
#include "test_support.h"

namespace wm::dynamics {
namespace {

DynamicsTrainOptions options(int64_t accumulation) {
  DynamicsTrainOptions t;
  t.batch_size = 8;
  t.grad_accumulation = accumulation;
  t.warmup_steps = 1;
  t.grad_clip = 1e9;  // no clipping: the two updates must see the same raw gradient
  return t;
}

// Two micro-batches of 4 give the update one batch of 8 gives (the loss is a mean per
// micro-batch, and the micro-batches are the same size).
TEST(DynamicsTrainer, GradientAccumulationMatchesOneLargeBatch) {
  const DynamicsBatch batch = shifting_batch(small_dynamics_options(), 8, 3);
  torch::manual_seed(0);
  DynamicsTrainer whole(WorldModel(small_dynamics_options()), options(1), c10::Device(c10::kCPU), core::Precision::kFp32);
  torch::manual_seed(0);
  DynamicsTrainer split(WorldModel(small_dynamics_options()), options(2), c10::Device(c10::kCPU), core::Precision::kFp32);
  whole.train_step(batch);
  split.train_step(batch);
  const auto a = whole.model()->parameters(), b = split.model()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-6)) << i;
}

TEST(DynamicsTrainer, ResumingIntoAModelOfAnotherShapeIsRefused) {
  test::TempDir dir;
  DynamicsTrainer trainer(WorldModel(small_dynamics_options()), options(1), c10::Device(c10::kCPU), core::Precision::kFp32);
  core::CheckpointWriter writer;
  trainer.save(writer);
  writer.save(dir / "d.ckpt");
  DynamicsOptions wider = small_dynamics_options();
  wider.width = 128;
  DynamicsTrainer other(WorldModel(wider), options(1), c10::Device(c10::kCPU), core::Precision::kFp32);
  EXPECT_NE(test::error_of([&] { other.restore(core::Checkpoint::load(dir / "d.ckpt")); }).find("another shape than the config's (2 layers x 64"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { options(3).validate(); }).find("batch_size 8 does not divide into grad_accumulation 3"), std::string::npos);
}

// A context far beyond the machine's memory is one line with the estimate and the memory
// available, before a step allocates anything (it used to run until the OOM killer ended it).
TEST(DynamicsTrainer, AStepThatCannotFitInMemoryIsRefusedWithTheEstimate) {
  DynamicsOptions o = small_dynamics_options();
  o.context_steps = 4096;
  o.width = 256;
  DynamicsTrainOptions t = options(1);
  t.batch_size = 64;
  const WorldModel model(o);
  const core::MemoryEstimate needs = estimate_training_memory(model, 64, core::Precision::kFp32);
  // 64 windows x 4096 steps x (K + 1) positions, each at least 16 x width fp32 values per layer.
  EXPECT_GE(needs.activations, 64.0 * static_cast<double>(o.max_positions()) * 16 * 256 * 4 * static_cast<double>(o.layers));
  if (needs.total() <= static_cast<double>(core::available_memory_bytes())) GTEST_SKIP() << "this machine has the memory";
  const std::string error = test::error_of([&] { DynamicsTrainer(model, t, c10::Device(c10::kCPU), core::Precision::kFp32); });
  EXPECT_NE(error.find("dynamics.context_steps=4096"), std::string::npos) << error;
  EXPECT_NE(error.find("needs about " + core::format_bytes(needs.total())), std::string::npos) << error;
  EXPECT_NE(error.find("this machine has available"), std::string::npos) << error;
  // Micro-batches hold a quarter of the activations at once.
  EXPECT_DOUBLE_EQ(estimate_training_memory(model, 16, core::Precision::kFp32).activations, needs.activations / 4);
}

// The same for a dream's KV cache: refused before the cache is allocated.
TEST(KVCache, ACacheThatCannotFitInMemoryIsRefused) {
  const double bytes = 2.0 * 64 * 4096 * 8 * 65536 * 64 * 4;  // layers x batch x heads x positions x head_dim, fp32
  if (bytes <= static_cast<double>(core::available_memory_bytes())) GTEST_SKIP() << "this machine has the memory";
  const std::string error = test::error_of([] { KVCache(64, 4096, 8, 65536, 64, torch::TensorOptions().dtype(torch::kFloat32), KVLayout::kHeadMajor); });
  EXPECT_NE(error.find("a dream's KV cache"), std::string::npos) << error;
  EXPECT_NE(error.find("this machine has available"), std::string::npos) << error;
}

TEST(TokenBaselines, CopyAndUnigramMatchHandComputedBits) {
  // Frames that never change: copying is always right; 2 of 8 codes in use.
  DynamicsBatch b = shifting_batch(small_dynamics_options(), 2, 1);
  b.tokens = torch::tensor({0, 1, 0, 1}, torch::kInt64).view({1, 1, 4}).expand({2, 6, 4}).contiguous();
  TokenBaselineFit fit(8);
  fit.add_training(b);
  const TokenBaselines r = fit.evaluate({b});
  EXPECT_DOUBLE_EQ(r.copy_accuracy, 1.0);
  EXPECT_NEAR(r.copy_bits, -std::log2(1.0 - 1e-6), 1e-9);
  // 24 zeros and 24 ones seen, add-one over 8 codes: p = 25 / 56 each.
  EXPECT_NEAR(r.unigram_bits, -std::log2(25.0 / 56.0), 1e-9);
}

TEST(TokenBaselines, TheChangedAndUnchangedSplitMatchesHandComputedBits) {
  // Frames alternate [0 1 2 3] and [0 1 3 2]: places 0 and 1 never change, 2 and 3 always.
  DynamicsBatch b = shifting_batch(small_dynamics_options(), 2, 1);
  const at::Tensor even = torch::tensor({0, 1, 2, 3}, torch::kInt64), odd = torch::tensor({0, 1, 3, 2}, torch::kInt64);
  for (int64_t t = 0; t < b.tokens.size(1); ++t) b.tokens.select(1, t).copy_((t % 2 == 0 ? even : odd).expand({2, 4}));
  TokenBaselineFit fit(8);
  fit.add_training(b);
  const TokenBaselines r = fit.evaluate({b});
  EXPECT_DOUBLE_EQ(r.copy_accuracy, 0.5);
  EXPECT_NEAR(r.copy_unchanged_bits, 1.0, 1e-9);                    // alpha = 1/2
  EXPECT_NEAR(r.copy_changed_bits, -std::log2(0.5 / 7.0), 1e-9);    // the rest over 7 other codes
  // Codes 0..3 seen 12 times each in 48 tokens, add-one over 8 codes: p = 13 / 56 for all four.
  EXPECT_NEAR(r.unigram_changed_bits, -std::log2(13.0 / 56.0), 1e-9);
  EXPECT_NEAR(r.unigram_unchanged_bits, -std::log2(13.0 / 56.0), 1e-9);
  EXPECT_NEAR(r.copy_bits, 0.5 * (r.copy_changed_bits + r.copy_unchanged_bits), 1e-9);
}

}  // namespace
}  // namespace wm::dynamics
