#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "test_support.h"
#include "tokenizer/patch_discriminator.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tokenizer/tokenizer_trainer.h"

namespace wm::tokenizer {
namespace {

bool has_log(const core::Scalars& scalars, const std::string& name) {
  for (const auto& [key, value] : scalars) {
    if (key == name) return true;
  }
  return false;
}

TEST(PatchDiscriminator, ScoresOverlappingPatches) {
  PatchDiscriminator d(16, 3);
  EXPECT_EQ(d(torch::zeros({2, 3, 64, 64})).sizes(), (std::vector<int64_t>{2, 1, 6, 6}));
  EXPECT_EQ(d(torch::zeros({1, 3, 64, 128})).sizes(), (std::vector<int64_t>{1, 1, 6, 14}));
}

TEST(PatchDiscriminator, HingeLossesMatchHandComputedValues) {
  const auto real = torch::tensor({2.0, 0.5, -1.0});  // relu(1 - l): 0, 0.5, 2 -> mean 2.5/3
  const auto fake = torch::tensor({-2.0, 0.0});       // relu(1 + l): 0, 1 -> mean 0.5
  EXPECT_NEAR(discriminator_hinge_loss(real, fake).item<double>(), 0.5 * (2.5 / 3.0 + 0.5), 1e-6);
  EXPECT_NEAR(generator_adversarial_loss(fake).item<double>(), 1.0, 1e-6);
}

// The discriminator learns to tell sharp frames from blurred copies of them — what it must
// notice in a reconstruction.
TEST(PatchDiscriminator, LearnsToSeparateSharpFromBlurredFrames) {
  torch::manual_seed(0);
  const torch::Tensor frames = driving_frames(8, 32, 32, 3).permute({0, 3, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0);
  const torch::Tensor blurred = torch::avg_pool2d(frames, 3, 1, 1, /*ceil_mode=*/false, /*count_include_pad=*/false);
  PatchDiscriminator d(16, 2);
  torch::optim::AdamW optimizer(d->parameters(), torch::optim::AdamWOptions(1e-3).betas({0.5, 0.9}));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    const torch::Tensor loss = discriminator_hinge_loss(d(frames), d(blurred));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_GT(first, 0.8);  // chance: logits near 0 give a hinge loss near 1
  EXPECT_LT(last, 0.2);
  EXPECT_GT((d(frames) > 0).to(torch::kFloat32).mean().item<double>(), 0.9);
  EXPECT_GT((d(blurred) < 0).to(torch::kFloat32).mean().item<double>(), 0.9);
}

TokenizerTrainOptions gan_options() {
  TokenizerTrainOptions o;
  o.steps = 10;
  o.warmup_steps = 1;
  o.batch_size = 4;
  o.gan_weight = 0.1;
  o.gan_start_step = 2;
  o.gan_channels = 8;
  o.gan_layers = 2;
  return o;
}

TEST(TokenizerTrainerGan, StartsAfterWarmupAndTrainsTheDiscriminator) {
  torch::manual_seed(0);
  TokenizerTrainer trainer(VQModel(small_options()), gan_options(), c10::Device(c10::kCPU), core::Precision::kFp32);
  ASSERT_TRUE(trainer.discriminator());
  const torch::Tensor frames = driving_frames(4, 32, 32, 3);
  std::vector<torch::Tensor> before;
  for (const auto& p : trainer.discriminator()->parameters()) before.push_back(p.detach().clone());

  for (int step = 0; step < 2; ++step) EXPECT_FALSE(has_log(trainer.train_step(frames), "tokenizer/gan_generator"));
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], trainer.discriminator()->parameters()[i]));

  const core::Scalars scalars = trainer.train_step(frames);
  EXPECT_TRUE(has_log(scalars, "tokenizer/gan_generator"));
  EXPECT_TRUE(has_log(scalars, "tokenizer/gan_discriminator"));
  EXPECT_TRUE(has_log(scalars, "tokenizer/gan_accuracy"));
  // Every conv weight moved. (The logit bias may not: with all logits inside (-1, 1) the
  // real and fake halves of the hinge loss give it equal and opposite gradients.)
  const auto after = trainer.discriminator()->parameters();
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i].dim() == 4) {
      EXPECT_FALSE(torch::equal(before[i], after[i])) << i;
    }
  }
}

TEST(TokenizerTrainerGan, AdversarialLossReachesTheDecoder) {
  torch::manual_seed(0);
  VQModel model(small_options());
  PatchDiscriminator d(8, 2);
  const torch::Tensor x = model->frames_to_input(driving_frames(2, 32, 32, 3));
  generator_adversarial_loss(d(model->forward(x).frames)).backward();
  for (const auto& item : model->named_parameters()) {
    if (item.key().rfind("decoder.", 0) != 0) continue;
    const torch::Tensor grad = item.value().grad();
    ASSERT_TRUE(grad.defined()) << item.key();
    EXPECT_GT(grad.abs().sum().item<double>(), 0.0) << item.key();
  }
  for (const auto& p : d->parameters()) EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
}

TEST(TokenizerTrainerGan, CheckpointCarriesTheDiscriminator) {
  torch::manual_seed(0);
  const torch::Tensor frames = driving_frames(4, 32, 32, 3);
  TokenizerTrainer trainer(VQModel(small_options()), gan_options(), c10::Device(c10::kCPU), core::Precision::kFp32);
  for (int step = 0; step < 4; ++step) trainer.train_step(frames);
  test::TempDir dir;
  core::CheckpointWriter writer;
  trainer.save(writer);
  writer.save(dir / "gan.ckpt");

  TokenizerTrainer restored(VQModel(small_options()), gan_options(), c10::Device(c10::kCPU), core::Precision::kFp32);
  restored.restore(core::Checkpoint::load(dir / "gan.ckpt"));
  trainer.train_step(frames);
  restored.train_step(frames);
  const auto a = trainer.discriminator()->parameters(), b = restored.discriminator()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-6, 1e-7)) << i;
}

TEST(TokenizerTrainerGan, RejectsBadOptionsNamingTheKey) {
  TokenizerTrainOptions o = gan_options();
  o.gan_layers = 9;
  EXPECT_EQ(test::error_of([&] { o.validate(); }), "tokenizer_train: gan_layers 9 is outside 1..5");
  o = gan_options();
  o.gan_weight = -1;
  EXPECT_EQ(test::error_of([&] { o.validate(); }), "tokenizer_train: gan_weight -1.000000 must not be negative");
}

}  // namespace
}  // namespace wm::tokenizer
