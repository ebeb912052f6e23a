// The C++ world model against its PyTorch twin (bench/reference/dynamics_reference.py, the peer
// `wm bench dynamics` and `wm bench imagine` time) with the same weights: the same logits in
// both decoding modes, with rotary attention and grouped key/value heads, and token by token
// the same loss and gradient — so the benchmarks compare the same computation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/npy.h"
#include "dynamics/dynamics_test_support.h"
#include "test_support.h"

namespace wm::dynamics {
namespace {

void expect_twin_agrees(Decoding decoding) {
  SCOPED_TRACE(decoding == Decoding::kParallel ? "parallel" : "autoregressive");
  DynamicsOptions o = small_dynamics_options();
  o.decoding = decoding;
  o.kv_heads = 2;
  torch::manual_seed(21);
  WorldModel model(o);
  model->eval();
  test::TempDir dir;
  for (const auto& item : model->named_parameters()) core::write_npy(dir / (item.key() + ".npy"), item.value().detach());
  DynamicsBatch b = shifting_batch(o, 2, 22);
  b.rewards = torch::zeros_like(b.rewards);  // what the twin's golden mode feeds its loss
  b.dones = torch::zeros_like(b.dones);
  core::write_npy(dir / "tokens.npy", b.tokens);
  core::write_npy(dir / "actions.npy", b.actions);

  const std::string command = test::venv_python() + " bench/reference/dynamics_reference.py golden --dir " + dir.path().string() +
                              " --layers " + std::to_string(o.layers) + " --width " + std::to_string(o.width) + " --heads " +
                              std::to_string(o.heads) + " --kv-heads " + std::to_string(o.kv_heads) + " --context " +
                              std::to_string(o.context_steps) + " --tokens " + std::to_string(o.tokens_per_frame) + " --vocab " +
                              std::to_string(o.vocab_size) + " --actions " + std::to_string(o.num_actions) +
                              " --threads 1 --rotary 1 --decoding " + (decoding == Decoding::kParallel ? "parallel" : "ar");
  const test::CommandResult result = test::run_command(command);
  ASSERT_EQ(result.exit_code, 0) << result.err;

  const torch::Tensor twin_logits = core::read_npy(dir / "logits.npy");
  if (decoding == Decoding::kParallel) {
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = model->forward_parallel(b.tokens, b.actions);
    EXPECT_TRUE(torch::allclose(logits, twin_logits, 1e-4, 1e-5)) << (logits - twin_logits).abs().max();
    return;
  }
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = model->forward(b.tokens, b.actions);
    EXPECT_TRUE(torch::allclose(logits, twin_logits, 1e-4, 1e-5)) << (logits - twin_logits).abs().max();
  }
  const core::LossTerms loss = model->compute_loss(b);
  loss.total.backward();
  EXPECT_NEAR(loss.total.item<double>(), core::read_npy(dir / "loss.npy").item<double>(), 1e-5);
  const torch::Tensor grad = model->named_parameters()["blocks.0.attention.qkv.weight"].grad();
  const torch::Tensor twin_grad = core::read_npy(dir / "qkv_grad.npy");
  EXPECT_TRUE(torch::allclose(grad, twin_grad, 1e-4, 1e-6)) << (grad - twin_grad).abs().max();
}

TEST(DynamicsGolden, LogitsLossAndGradientsEqualThePyTorchTwinsTokenByToken) { expect_twin_agrees(Decoding::kAutoregressive); }

TEST(DynamicsGolden, ParallelLogitsEqualThePyTorchTwins) { expect_twin_agrees(Decoding::kParallel); }

}  // namespace
}  // namespace wm::dynamics
