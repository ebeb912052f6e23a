// The C++ tokenizer against its PyTorch twin (bench/reference/tokenizer_reference.py, the peer
// `wm bench tokenizer` times) with the same weights and frames: the same tokens, the same
// reconstruction, loss and gradients of one training-mode step, and the same codebook after
// its EMA update — so the benchmark compares the same computation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "core/npy.h"
#include "test_support.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tokenizer/vq_model.h"

namespace wm::tokenizer {
namespace {

void expect_close(const torch::Tensor& ours, const torch::Tensor& twin, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(ours.sizes(), twin.sizes()) << what;
  EXPECT_TRUE(torch::allclose(ours.to(torch::kFloat32), twin.to(torch::kFloat32), rtol, atol))
      << what << ": max |difference| " << (ours.to(torch::kFloat32) - twin.to(torch::kFloat32)).abs().max().item<double>();
}

TEST(TokenizerGolden, TokensReconstructionLossGradientsAndCodebookEqualThePyTorchTwins) {
  const TokenizerOptions o = small_options();  // 32x32, base 16, levels {1, 2, 2}, 256 codes of 16, attention
  torch::manual_seed(5);
  VQModel model(o);
  test::TempDir dir;
  for (const auto& item : model->named_parameters()) core::write_npy(dir / (item.key() + ".npy"), item.value().detach().contiguous());
  for (const auto& item : model->named_buffers()) core::write_npy(dir / (item.key() + ".npy"), item.value().contiguous());
  const torch::Tensor frames = driving_frames(3, o.height, o.width, 2);
  core::write_npy(dir / "frames.npy", frames);

  std::string mult;
  for (int64_t m : o.channel_mult) mult += (mult.empty() ? "" : ",") + std::to_string(m);
  const test::CommandResult twin = test::run_command(
      test::venv_python() + " bench/reference/tokenizer_reference.py golden --dir " + dir.path().string() + " --threads 1 --height " +
      std::to_string(o.height) + " --width " + std::to_string(o.width) + " --base " + std::to_string(o.base_channels) + " --mult " + mult +
      " --res-blocks " + std::to_string(o.res_blocks) + " --vocab " + std::to_string(o.vocab_size) + " --code-dim " + std::to_string(o.code_dim));
  ASSERT_EQ(twin.exit_code, 0) << twin.err;

  // One training-mode step, as TokenizerTrainer takes it.
  model->train();
  const torch::Tensor x = model->frames_to_input(frames);
  const Reconstruction r = model->forward(x);
  const core::LossTerms loss = model->reconstruction_loss(x, r);
  loss.total.backward();

  EXPECT_TRUE(torch::equal(r.tokens, core::read_npy(dir / "twin_tokens.npy").to(torch::kInt64))) << "the nearest codes differ";
  expect_close(r.frames.contiguous(), core::read_npy(dir / "twin_reconstruction.npy"), 1e-4, 1e-5, "reconstruction");
  EXPECT_NEAR(loss.total.item<double>(), core::read_npy(dir / "twin_loss.npy").item<double>(), 1e-5);
  expect_close(model->quantizer()->codebook(), core::read_npy(dir / "twin_codebook.npy"), 1e-5, 1e-6, "codebook after the EMA update");
  const auto parameters = model->named_parameters();
  for (const char* name : {"encoder.stem.weight", "encoder.mid1.conv1.weight", "decoder.to_rgb.weight", "decoder.attention.qkv.weight"}) {
    expect_close(parameters[name].grad().contiguous(), core::read_npy(dir / ("twin_grad." + std::string(name) + ".npy")), 1e-4, 1e-6,
                 std::string("gradient of ") + name);
  }
}

}  // namespace
}  // namespace wm::tokenizer
