// Data parallelism on GPUs: the bucketed gradient all-reduce over NCCL gives the gradients the
// step would have without it (one GPU: a job of one rank; two GPUs: two ranks of batch b end
// where one rank of batch 2b ends), and `wm train dynamics` trains in bf16 on the GPU as a
// worker of `wmrun --nproc-per-node 1`.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "dist/bucketed_all_reduce.h"
#include "dist/data_parallel.h"
#include "dist/ranks_test_support.h"
#include "dynamics/dynamics_test_support.h"
#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm::dist {
namespace {

#define SKIP_WITHOUT_GPU()                                                   \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible"

dynamics::WorldModel seeded_model() {
  torch::manual_seed(21);
  return dynamics::WorldModel(dynamics::small_dynamics_options());
}

dynamics::DynamicsTrainOptions training(int64_t batch) {
  dynamics::DynamicsTrainOptions t;
  t.batch_size = batch;
  t.lr = 3e-3;
  t.warmup_steps = 1;
  t.grad_clip = 0.5;
  return t;
}

dynamics::DynamicsBatch rows(const dynamics::DynamicsBatch& b, int64_t from, int64_t n) {
  return {b.tokens.narrow(0, from, n), b.actions.narrow(0, from, n), b.rewards.narrow(0, from, n), b.dones.narrow(0, from, n),
          b.mask.narrow(0, from, n)};
}

// `world` ranks on cuda:0 ... cuda:world-1, each with batch b of every batch, against one
// process with the whole batch on cuda:0; fp32 without TF32, so the sums differ only in order.
void expect_ranks_equal_one_process(int world) {
  const bool tf32 = at::globalContext().allowTF32CuBLAS();
  at::globalContext().setAllowTF32CuBLAS(false);
  const int64_t b = 4, steps = 3;
  std::vector<dynamics::DynamicsBatch> batches;
  for (int64_t s = 0; s < steps; ++s) batches.push_back(dynamics::shifting_batch(dynamics::small_dynamics_options(), world * b, 70 + s));
  dynamics::DynamicsTrainer one(seeded_model(), training(world * b), c10::Device(c10::kCUDA, 0), core::Precision::kFp32);
  for (const auto& batch : batches) one.train_step(batch);

  std::vector<dynamics::WorldModel> models;
  for (int r = 0; r < world; ++r) models.push_back(seeded_model());
  std::vector<int64_t> buckets(static_cast<size_t>(world));
  on_ranks(
      world,
      [&](ProcessGroup& group) {
        const auto mine = static_cast<size_t>(group.rank());
        dynamics::DynamicsTrainer trainer(models[mine], training(b), group.device(), core::Precision::kFp32);
        BucketedAllReduce* sync = nullptr;
        trainer.set_gradient_sync([&](const std::vector<at::Tensor>& parameters) {
          auto made = std::make_unique<BucketedAllReduce>(borrowed(group), parameters, /*bucket_bytes=*/64 << 10);
          sync = made.get();
          return made;
        });
        for (const auto& batch : batches) trainer.train_step(rows(batch, group.rank() * b, b));
        buckets[mine] = sync->times().buckets_launched_in_backward;
      },
      [](int rank) { return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(rank)); });
  at::globalContext().setAllowTF32CuBLAS(tf32);

  const auto reference = one.model()->named_parameters();
  for (int rank = 0; rank < world; ++rank) {
    EXPECT_GT(buckets[static_cast<size_t>(rank)], steps) << "several buckets a step, launched from the gradient hooks";
    for (const auto& p : models[static_cast<size_t>(rank)]->named_parameters()) {
      const at::Tensor value = p.value().cpu(), expected = reference[p.key()].cpu();
      EXPECT_TRUE(torch::allclose(value, expected, 1e-4, 1e-5))
          << "rank " << rank << ", " << p.key() << ": max difference " << (value - expected).abs().max().item<double>();
    }
  }
}

TEST(DataParallelGpu, NcclBucketedAllReduceOfOneRankLeavesTheStepAsItWas) {
  SKIP_WITHOUT_GPU();
  expect_ranks_equal_one_process(1);
}

TEST(DataParallelGpu, TwoRanksOnTwoGpusOfBatchBEqualOneGpuOfBatchTwoB) {
  SKIP_WITHOUT_GPU();
  if (torch::cuda::device_count() < 2) GTEST_SKIP() << "one CUDA device visible; this needs two";
  expect_ranks_equal_one_process(2);
}

class WmrunGpu : public test::TinyDrivingRun {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_GPU();
    TinyDrivingRun::SetUp();
  }
};

TEST_F(WmrunGpu, Bf16TrainingOfTheDynamicsModelOnTheGpuUnderWmrun) {
  const std::string wmrun = (std::filesystem::path(test::wm_binary()).parent_path() / "wmrun").string();
  const auto r = test::run_command(wmrun + " --standalone --nproc-per-node 1 --log-dir " + (dir_ / "wmrun").string() + " -- " +
                                   test::wm_binary() + " train dynamics --config configs/demo.yaml" + run_ + kTinyModel +
                                   " run.device=cuda run.precision=bf16 dynamics_train.steps=30 dynamics_train.tokenizer=" +
                                   (dir_ / "tok.ckpt").string() + " data.path=" + (dir_ / "d" / "episodes").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string log = test::read_bytes(dir_ / "wmrun" / "attempt_0" / "rank_0.log");
  EXPECT_NE(log.find("on cuda:0"), std::string::npos) << log;
  EXPECT_NE(test::read_bytes(dir_ / "d" / "config.yaml").find("precision: bf16"), std::string::npos);
  const nlohmann::json last = test::last_with(dir_ / "d" / "metrics.jsonl", "dynamics/loss");
  ASSERT_FALSE(last.is_null());
  EXPECT_EQ(last["step"].get<int64_t>(), 30);
  EXPECT_TRUE(std::isfinite(last["dynamics/loss"].get<double>()));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "d" / "checkpoints" / "dynamics_000000030.ckpt"));
}

}  // namespace
}  // namespace wm::dist
