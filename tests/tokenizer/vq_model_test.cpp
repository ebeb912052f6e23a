#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "core/device.h"
#include "test_support.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tokenizer/vq_model.h"

namespace wm::tokenizer {
namespace {

using test::error_of;

TEST(VQModel, ShapesForSquareAndNonSquareGrids) {
  torch::manual_seed(0);
  VQModel square(TokenizerOptions{});  // the default: 64x64 -> 8x8 from 1024 codes
  const auto frames = torch::randint(0, 256, {2, 64, 64, 3}).to(torch::kUInt8);
  const auto tokens = square->encode(frames);
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{2, 8, 8}));
  EXPECT_EQ(tokens.scalar_type(), torch::kInt64);
  EXPECT_EQ(square->decode(tokens).sizes(), frames.sizes());
  EXPECT_EQ(square->embed(tokens).sizes(), (std::vector<int64_t>{2, 8, 8, 32}));

  TokenizerOptions wide;
  wide.height = 64;
  wide.width = 128;
  VQModel model(wide);
  const auto wide_frames = torch::randint(0, 256, {1, 64, 128, 3}).to(torch::kUInt8);
  const auto wide_tokens = model->encode(wide_frames);
  EXPECT_EQ(wide_tokens.sizes(), (std::vector<int64_t>{1, 8, 16}));
  EXPECT_EQ(model->decode(wide_tokens).sizes(), wide_frames.sizes());
}

TEST(VQModel, StraightThroughPassesGradientToTheEncoder) {
  torch::manual_seed(0);
  VQModel model(small_options());
  model->train();
  const auto loss = model->compute_loss(driving_frames(2, 32, 32));
  loss.total.backward();
  double encoder_grad = 0;
  for (const auto& p : model->named_parameters()) {
    if (p.key().rfind("encoder.", 0) == 0 && p.value().grad().defined()) encoder_grad += p.value().grad().abs().sum().item<double>();
  }
  EXPECT_GT(encoder_grad, 0.0);
}

TEST(VectorQuantizer, OneEmaUpdateMatchesAHandComputedExample) {
  VectorQuantizer vq(/*vocab_size=*/2, /*code_dim=*/2, /*ema_decay=*/0.5);
  // Before: ema_count = [1, 1], ema_sum = codebook rows. Batch: code 0 got two inputs
  // summing to (0, 2), code 1 none.
  const torch::Tensor before_sum = vq->codebook().clone();
  vq->ema_update(torch::tensor({2.0f, 0.0f}), torch::tensor({{0.0f, 2.0f}, {0.0f, 0.0f}}));
  // count0 = 0.5 * 1 + 0.5 * 2 = 1.5; sum0 = 0.5 * e0 + 0.5 * (0, 2); code0 = unit(sum0)
  const torch::Tensor sum0 = 0.5 * before_sum[0] + 0.5 * torch::tensor({0.0f, 2.0f});
  const torch::Tensor expected0 = sum0 / sum0.norm();
  EXPECT_TRUE(torch::allclose(vq->codebook()[0], expected0, 1e-6, 1e-6));
  // code 1: sum1 = 0.5 * e1, count1 = 0.5: the direction of e1 is unchanged.
  EXPECT_TRUE(torch::allclose(vq->codebook()[1], before_sum[1], 1e-6, 1e-6));
}

TEST(VectorQuantizer, DeadCodesAreRestartedNearTheData) {
  torch::manual_seed(0);
  VectorQuantizer vq(/*vocab_size=*/64, /*code_dim=*/8, 0.99);
  vq->train();
  // All inputs near one direction: a few codes win, the rest are dead.
  const torch::Tensor z = (torch::ones({4, 8, 4, 4}) + 0.05 * torch::randn({4, 8, 4, 4}));
  vq(z);
  double usage = 0;
  const int64_t restarted = vq->restart_dead_codes(&usage);
  EXPECT_GT(restarted, 50);
  EXPECT_NEAR(usage, 1.0 - restarted / 64.0, 1e-9);
  // Restarted codes now point where the data is (cosine to the data direction near 1).
  const torch::Tensor direction = torch::ones({8}) / std::sqrt(8.0);
  EXPECT_GT(torch::matmul(vq->codebook(), direction).min().item<double>(), 0.9);
  EXPECT_EQ(vq->recent_counts().sum().item<double>(), 0.0);
}

// Under bf16 autocast (wm train ... run.precision=bf16) the encoder's output is bf16. The
// quantizer keeps its codebook and statistics fp32: 601 vectors on one code count 601 (bf16
// would round it to 600), and the dead codes restart from that batch without a dtype clash.
TEST(VectorQuantizer, UnderBf16AutocastTheStatisticsStayFp32AndDeadCodesRestart) {
  torch::manual_seed(4);
  const double decay = 0.5;
  VectorQuantizer vq(/*vocab_size=*/8, /*code_dim=*/4, decay);
  vq->train();
  const torch::Tensor z = torch::randn({1, 4, 1, 1}).expand({1, 4, 1, 601}).to(torch::kBFloat16);  // one direction, 601 times
  QuantizerOutput out;
  {
    core::AutocastGuard autocast(c10::Device(c10::kCPU), core::Precision::kBf16);
    out = vq->forward(z);
  }
  const int64_t code = out.tokens.flatten()[0].item<int64_t>();
  EXPECT_TRUE(torch::all(out.tokens == code).item<bool>());
  EXPECT_EQ(vq->codebook().scalar_type(), torch::kFloat32);
  const torch::Tensor counts = vq->named_buffers()["ema_count"];
  EXPECT_EQ(counts.scalar_type(), torch::kFloat32);
  EXPECT_DOUBLE_EQ(counts[code].item<double>(), decay * 1 + (1 - decay) * 601);
  double usage = 0;
  EXPECT_EQ(vq->restart_dead_codes(&usage), 7);  // every code but the one used
  EXPECT_DOUBLE_EQ(usage, 1.0 / 8);
  EXPECT_EQ(vq->codebook().scalar_type(), torch::kFloat32);
}

TEST(VQModel, CheckpointRoundTripGivesIdenticalTokens) {
  torch::manual_seed(0);
  VQModel model(small_options());
  const torch::Tensor frames = driving_frames(4, 32, 32);
  model->train();
  model->compute_loss(frames);  // move the codebook off its initial state
  const torch::Tensor tokens = model->encode(frames);
  test::TempDir dir;
  core::CheckpointWriter writer;
  writer.add_module("tokenizer", *model);
  writer.save(dir / "t.ckpt");

  torch::manual_seed(99);
  VQModel restored(small_options());
  core::Checkpoint::load(dir / "t.ckpt").restore_module("tokenizer", *restored);
  EXPECT_TRUE(torch::equal(restored->encode(frames), tokens));
  EXPECT_TRUE(torch::equal(restored->decode(tokens), model->decode(tokens)));

  TokenizerOptions other = small_options();
  other.vocab_size = 512;
  VQModel bigger(other);
  EXPECT_NE(error_of([&] { core::Checkpoint::load(dir / "t.ckpt").restore_module("tokenizer", *bigger); }).find("[256, 16] in the checkpoint and [512, 16]"),
            std::string::npos);
}

TEST(VQModel, BadInputIsNamed) {
  VQModel model(small_options());
  EXPECT_NE(error_of([&] { model->encode(torch::zeros({1, 32, 32, 3}, torch::kFloat32)); }).find("frames must be uint8 [B, H, W, 3], got Float"),
            std::string::npos);
  EXPECT_NE(error_of([&] { model->encode(torch::zeros({1, 48, 32, 3}, torch::kUInt8)); }).find("frames are 48x32 but this tokenizer reads 32x32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { model->decode(torch::full({1, 8, 8}, 256, torch::kInt64)); }).find("token id 256 is outside the codebook 0..255"),
            std::string::npos);
  EXPECT_NE(error_of([&] { model->decode(torch::zeros({1, 4, 4}, torch::kInt64)); }).find("tokens must be [B, 8, 8]"), std::string::npos);
  TokenizerOptions bad = small_options();
  bad.downsample = 3;
  EXPECT_NE(error_of([&] { VQModel m(bad); }).find("downsample 3 is not a power of two"), std::string::npos);
}

}  // namespace
}  // namespace wm::tokenizer
