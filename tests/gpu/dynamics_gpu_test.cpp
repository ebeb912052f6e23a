// The dynamics model on a CUDA device: the same logits as on the CPU, KV-cached decoding
// equal to the full pass there too, imagination on the device, and learning under bf16
// autocast. Skipped where no CUDA device is visible.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dynamics/dream_precision.h"
#include "dynamics/dynamics_test_support.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/imagination.h"

namespace wm::dynamics {
namespace {

#define SKIP_WITHOUT_GPU()                                                   \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible"

const c10::Device kCuda(c10::kCUDA, 0);

DynamicsBatch batch_on(const DynamicsBatch& b, c10::Device device) {
  return {b.tokens.to(device), b.actions.to(device), b.rewards.to(device), b.dones.to(device), b.mask.to(device)};
}

// fp32 on the GPU runs other kernels (cuBLAS, memory-efficient attention) than on the CPU:
// equal to rounding, not bit for bit.
constexpr double kTolerance = 1e-3;

TEST(DynamicsGpu, LogitsOnTheGpuMatchTheCpuAndKvCachedDecodingMatchesTheFullPass) {
  SKIP_WITHOUT_GPU();
  torch::manual_seed(3);
  WorldModel model(small_dynamics_options());
  model->eval();
  const DynamicsBatch b = shifting_batch(model->options(), 3, 2);
  torch::NoGradGuard no_grad;
  const torch::Tensor on_cpu = model->forward(b.tokens, b.actions);
  model->to(kCuda);
  const DynamicsBatch g = batch_on(b, kCuda);
  const torch::Tensor full = model->forward(g.tokens, g.actions);  // [3, L*(K+1), V]
  EXPECT_TRUE(torch::allclose(full.cpu(), on_cpu, kTolerance, kTolerance)) << (full.cpu() - on_cpu).abs().max();

  const torch::Tensor x = model->embed_steps(g.tokens, g.actions, 0);
  KVCache cache = model->make_cache(3);
  for (int64_t start = 0; start < x.size(1); start += 5) {
    const int64_t n = std::min<int64_t>(5, x.size(1) - start);
    const torch::Tensor logits = model->token_logits(model->transform(x.narrow(1, start, n), &cache));
    EXPECT_TRUE(torch::allclose(logits, full.narrow(1, start, n), kTolerance, kTolerance)) << "positions " << start << ".." << start + n;
  }
}

TEST(DynamicsGpu, ImaginationRunsAllTrajectoriesOnTheDevice) {
  SKIP_WITHOUT_GPU();
  torch::manual_seed(4);
  WorldModel model(small_dynamics_options());
  model->eval();
  model->to(kCuda);
  const auto& o = model->options();
  const DynamicsBatch b = batch_on(shifting_batch(o, 4, 5), kCuda);
  Imagination dream(model, 4, {.temperature = 0.0});
  dream.reset(b.tokens.narrow(1, 0, 2), b.actions.narrow(1, 0, 1));
  const ImaginedStep step = dream.step(b.actions.select(1, 1));
  EXPECT_EQ(step.tokens.device(), kCuda);
  EXPECT_EQ(step.tokens.sizes(), (std::vector<int64_t>{4, o.tokens_per_frame}));
  // Greedy: the first imagined token is the full pass's argmax at the position of the
  // second step's action token, 1 * (K + 1) + K.
  torch::NoGradGuard no_grad;
  const torch::Tensor predicted = model->forward(b.tokens.narrow(1, 0, 2), b.actions.narrow(1, 0, 2)).argmax(-1);
  EXPECT_TRUE(torch::equal(predicted.select(1, o.positions_per_step() + o.tokens_per_frame), step.tokens.select(1, 0)));
}

// Parallel decoding on the device, with grouped key/value heads: the cached one-pass step
// (frame and action into the cache, the next frame's queries reading it through the fused
// attention with its mask) gives the CPU's full-pass logits, and a bf16 dream there runs on
// the device end to end.
TEST(DynamicsGpu, ParallelDecodingOnTheGpuMatchesTheCpuFullPass) {
  SKIP_WITHOUT_GPU();
  torch::manual_seed(6);
  DynamicsOptions o = small_dynamics_options();
  o.decoding = Decoding::kParallel;
  o.kv_heads = 2;
  WorldModel model(o);
  model->eval();
  const DynamicsBatch b = shifting_batch(o, 3, 7);
  torch::NoGradGuard no_grad;
  const torch::Tensor on_cpu = model->forward_parallel(b.tokens, b.actions);  // [3, L-1, K, V]
  model->to(kCuda);
  const DynamicsBatch g = batch_on(b, kCuda);
  KVCache cache = model->make_cache(3);
  for (int64_t t = 0; t + 1 < o.context_steps; ++t) {
    const torch::Tensor x = model->embed_steps(g.tokens.narrow(1, t, 1), g.actions.narrow(1, t, 1), t);
    const torch::Tensor queries = model->embed_frame_queries(t + 1, 1).expand({3, -1, -1});
    const torch::Tensor hidden =
        model->transform_cached(x, queries, model->frame_query_positions(t + 1, 1), cache, /*last_layer_output_from=*/o.tokens_per_frame + 1);
    const torch::Tensor logits = model->token_logits(hidden).cpu();
    EXPECT_TRUE(torch::allclose(logits, on_cpu.select(1, t), kTolerance, kTolerance)) << "frame " << t + 1;
  }
  WorldModel bf16 = dream_model(model, core::Precision::kBf16);
  Imagination dream(bf16, 3, {.temperature = 1.0, .top_k = 4, .seed = 2});
  dream.reset(g.tokens.narrow(1, 0, 2), g.actions.narrow(1, 0, 1));
  for (int64_t step = 0; step < 6; ++step) {
    const ImaginedStep s = dream.step(g.actions.select(1, step % o.context_steps));
    EXPECT_EQ(s.tokens.device(), kCuda);
  }
}

TEST(DynamicsGpu, LearnsTheShiftingWorldUnderBf16Autocast) {
  SKIP_WITHOUT_GPU();
  torch::manual_seed(0);
  const DynamicsOptions o = shifting_world_model_options();
  const DynamicsTrainOptions t = shifting_world_training();
  DynamicsTrainer trainer(WorldModel(o), t, kCuda, core::Precision::kBf16);
  for (int64_t step = 0; step < t.steps; ++step) trainer.train_step(shifting_batch(o, t.batch_size, 100 + step));
  const core::Scalars held_out = trainer.evaluate({shifting_batch(o, 64, 1), shifting_batch(o, 64, 2)});
  EXPECT_GE(scalar_named(held_out, "dynamics/holdout_next_frame_accuracy"), 0.99);
  EXPECT_GE(scalar_named(held_out, "dynamics/holdout_reward_accuracy"), 0.99);
}

}  // namespace
}  // namespace wm::dynamics
