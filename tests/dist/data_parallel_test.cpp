// Data parallelism over real c10d (TCPStore + Gloo on loopback), two ranks as two threads of
// this process: 2 ranks with batch b end where 1 rank with batch 2b ends, accumulation
// micro-steps send nothing, and the start-up checks name what differs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <thread>

#include "dist/bucketed_all_reduce.h"
#include "dist/data_parallel.h"
#include "dist/launcher.h"
#include "dist/process_group.h"
#include "dynamics/dynamics_test_support.h"
#include "test_support.h"

namespace wm::dist {
namespace {

// Runs `body(group)` on `world` ranks, one thread each, joined over a fresh port; a failure in
// any rank's body is reported after all have ended.
void on_ranks(int world, const std::function<void(ProcessGroup&)>& body) {
  const int port = free_local_port();
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        WorkerEnv env;
        env.rank = rank;
        env.world_size = world;
        env.master_port = port;
        std::shared_ptr<ProcessGroup> group = ProcessGroup::connect(env, c10::Device(c10::kCPU), std::chrono::seconds(30));
        body(*group);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(rank)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int rank = 0; rank < world; ++rank) EXPECT_EQ(errors[static_cast<size_t>(rank)], "") << "rank " << rank;
}

dynamics::WorldModel seeded_model() {
  torch::manual_seed(21);
  return dynamics::WorldModel(dynamics::small_dynamics_options());
}

dynamics::DynamicsTrainOptions training(int64_t batch, int64_t accumulation) {
  dynamics::DynamicsTrainOptions t;
  t.batch_size = batch;
  t.grad_accumulation = accumulation;
  t.lr = 3e-3;
  t.warmup_steps = 1;
  t.grad_clip = 0.5;  // reached: the clip must act on the global gradient
  return t;
}

dynamics::DynamicsBatch rows(const dynamics::DynamicsBatch& b, int64_t from, int64_t n) {
  return {b.tokens.narrow(0, from, n), b.actions.narrow(0, from, n), b.rewards.narrow(0, from, n), b.dones.narrow(0, from, n),
          b.mask.narrow(0, from, n)};
}

TEST(DataParallel, TwoRanksOfBatchBEqualOneRankOfBatchTwoBForTheDynamicsModel) {
  const int64_t b = 4, steps = 3;
  std::vector<dynamics::DynamicsBatch> batches;
  for (int64_t s = 0; s < steps; ++s) batches.push_back(dynamics::shifting_batch(dynamics::small_dynamics_options(), 2 * b, 50 + s));

  dynamics::DynamicsTrainer one(seeded_model(), training(2 * b, 1), c10::Device(c10::kCPU), core::Precision::kFp32);
  std::vector<double> one_norms;
  for (const auto& batch : batches) one_norms.push_back(dynamics::scalar_named(one.train_step(batch), "dynamics/grad_norm"));

  std::vector<dynamics::WorldModel> models = {seeded_model(), seeded_model()};
  std::vector<std::vector<double>> norms(2);
  // Rank 1 starts from other weights: the broadcast must make them rank 0's.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : models[1]->parameters()) p.add_(0.1);
  }
  on_ranks(2, [&](ProcessGroup& group) {
    dynamics::WorldModel& model = models[static_cast<size_t>(group.rank())];
    std::vector<at::Tensor> state = model->parameters();
    for (const auto& buffer : model->buffers()) state.push_back(buffer);
    broadcast_from_rank0(group, state);
    // Each rank: b windows of every batch, with 2 micro-steps of b / 2.
    dynamics::DynamicsTrainer trainer(model, training(b, 2), c10::Device(c10::kCPU), core::Precision::kFp32);
    BucketedAllReduce* sync = nullptr;
    trainer.set_gradient_sync([&](const std::vector<at::Tensor>& parameters) {
      auto made = std::make_unique<BucketedAllReduce>(std::shared_ptr<ProcessGroup>(&group, [](ProcessGroup*) {}), parameters,
                                                      /*bucket_bytes=*/64 << 10);  // small buckets: several per step
      sync = made.get();
      return made;
    });
    for (const auto& batch : batches) {
      norms[static_cast<size_t>(group.rank())].push_back(
          dynamics::scalar_named(trainer.train_step(rows(batch, group.rank() * b, b)), "dynamics/grad_norm"));
    }
    ASSERT_NE(sync, nullptr);
    EXPECT_GT(sync->buckets(), 1);
    // One all-reduce per bucket and step, all started by the last micro-step's hooks.
    EXPECT_EQ(sync->times().buckets_launched_in_backward, sync->buckets() * steps);
    EXPECT_EQ(sync->times().buckets_launched_at_finish, 0);
  });

  const auto reference = one.model()->named_parameters();
  for (int rank = 0; rank < 2; ++rank) {
    for (const auto& p : models[static_cast<size_t>(rank)]->named_parameters()) {
      const at::Tensor& expected = reference[p.key()];
      EXPECT_TRUE(torch::allclose(p.value(), expected, 1e-5, 1e-5))
          << "rank " << rank << ", " << p.key() << ": max difference " << (p.value() - expected).abs().max().item<double>();
    }
    for (int64_t s = 0; s < steps; ++s) {
      EXPECT_NEAR(norms[static_cast<size_t>(rank)][static_cast<size_t>(s)], one_norms[static_cast<size_t>(s)], 1e-4 * one_norms[static_cast<size_t>(s)])
          << "the logged gradient norm is the global one, rank " << rank << ", step " << s;
    }
  }
  EXPECT_GT(one_norms[0], 0.5) << "the clip acted";
}

TEST(DataParallel, ConfigsThatDifferAreNamedOnEveryRank) {
  std::vector<std::string> messages(2);
  on_ranks(2, [&](ProcessGroup& group) {
    const std::string yaml = "run:\n  seed: 1\ndynamics:\n  width: " + std::string(group.rank() == 0 ? "128" : "256") + "\n";
    messages[static_cast<size_t>(group.rank())] = test::error_of([&] { check_same_config(group, yaml); });
    check_same_config(group, "same: 1\n");  // the same config passes
  });
  for (const auto& m : messages) EXPECT_NE(m.find("rank 1 has '  width: 256' where rank 0 has '  width: 128'"), std::string::npos) << m;
}

TEST(DataParallel, LoggedFiguresAreAveragedOverTheRanks) {
  std::vector<core::Scalars> averaged(2);
  on_ranks(2, [&](ProcessGroup& group) {
    const double r = group.rank();
    averaged[static_cast<size_t>(group.rank())] = average_over_ranks(group, {{"loss", 1.0 + r}, {"accuracy", 0.5 - 0.25 * r}});
  });
  for (const auto& a : averaged) {
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].first, "loss");
    EXPECT_DOUBLE_EQ(a[0].second, 1.5);
    EXPECT_DOUBLE_EQ(a[1].second, 0.375);
  }
}

}  // namespace
}  // namespace wm::dist
