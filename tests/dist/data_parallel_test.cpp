// Data parallelism over real c10d (TCPStore + Gloo on loopback), two ranks as two threads of
// this process: 2 ranks with batch b end where 1 rank with batch 2b ends (the dynamics model,
// and the tokenizer with its codebook), accumulation micro-steps send nothing, figures are
// combined, and the start-up checks name what differs.
#include <gtest/gtest.h>
#include <torch/torch.h>


#include "dist/bucketed_all_reduce.h"
#include "dist/data_parallel.h"
#include "dist/group_ranks.h"
#include "dist/process_group.h"
#include "dist/ranks_test_support.h"
#include "dynamics/dynamics_test_support.h"
#include "test_support.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tokenizer/tokenizer_trainer.h"

namespace wm::dist {
namespace {

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
      auto made = std::make_unique<BucketedAllReduce>(borrowed(group), parameters,
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
  for (const auto& m : messages) EXPECT_NE(m.find("dynamics.width is 256 on rank 1 but 128 on rank 0"), std::string::npos) << m;
}

TEST(DataParallel, FiguresAreAveragedOverTheRanksThatReportThemAndRatesAddUp) {
  std::vector<core::Scalars> same(2), different(2);
  on_ranks(2, [&](ProcessGroup& group) {
    GroupRanks ranks(borrowed(group));
    const double r = group.rank();
    const auto mine = static_cast<size_t>(group.rank());
    same[mine] = core::combine_figures(ranks, {{"loss", 1.0 + r}, {"accuracy", 0.5 - 0.25 * r}, {"frames_per_s", 100 + 100 * r}});
    // Rank 1 alone ended an episode: its return is the job's; the names are told apart.
    core::Scalars figures = {{"loss", 2.0 * r}};
    if (r == 1) figures.emplace_back("episode_return", 7.0);
    different[mine] = core::combine_figures(ranks, figures);
  });
  for (int rank = 0; rank < 2; ++rank) {
    const core::Scalars& a = same[static_cast<size_t>(rank)];
    ASSERT_EQ(a.size(), 3u) << "rank " << rank;
    EXPECT_EQ(a[0].first, "loss");
    EXPECT_DOUBLE_EQ(a[0].second, 1.5);
    EXPECT_DOUBLE_EQ(a[1].second, 0.375);
    EXPECT_DOUBLE_EQ(a[2].second, 300) << "a rate is the job's: the ranks' sum";
    const core::Scalars& b = different[static_cast<size_t>(rank)];
    ASSERT_EQ(b.size(), 2u) << "rank " << rank;
    EXPECT_EQ(b[0].first, "loss");
    EXPECT_DOUBLE_EQ(b[0].second, 1.0);
    EXPECT_EQ(b[1].first, "episode_return");
    EXPECT_DOUBLE_EQ(b[1].second, 7.0) << "the mean over the ranks that reported it";
  }
}

tokenizer::TokenizerTrainOptions tokenizer_training(int64_t batch) {
  tokenizer::TokenizerTrainOptions t;
  t.steps = 100;
  t.warmup_steps = 1;
  t.lr = 2e-3;
  t.batch_size = batch;
  return t;
}

tokenizer::VQModel seeded_tokenizer() {
  torch::manual_seed(5);
  tokenizer::TokenizerOptions options = tokenizer::small_options();
  options.restart_every = 2;  // restarts at steps 2, 4, 6
  return tokenizer::VQModel(options);
}

// The codebook is state outside the gradients: its EMA statistics are summed over the ranks
// and its dead-code restarts drawn once (on rank 0, from every rank's encoder outputs), so the
// codebooks stay the same on every rank and equal one process's with the whole batch.
TEST(DataParallel, TwoRanksOfBatchBEqualOneRankOfBatchTwoBForTheTokenizerRestartsIncluded) {
  const int64_t b = 2, steps = 6;
  const torch::Tensor frames = tokenizer::driving_frames(2 * b * steps, 32, 32, 3);  // [steps * 2b, H, W, 3]

  tokenizer::TokenizerTrainer one(seeded_tokenizer(), tokenizer_training(2 * b), c10::Device(c10::kCPU), core::Precision::kFp32);
  for (int64_t s = 0; s < steps; ++s) one.train_step(frames.narrow(0, s * 2 * b, 2 * b));
  const double restarts_one = core::find_scalar(one.train_step(frames.narrow(0, 0, 2 * b)), "tokenizer/restarts").value();
  ASSERT_GT(restarts_one, 0) << "the run must restart codes for the test to cover them";

  std::vector<tokenizer::VQModel> models = {seeded_tokenizer(), seeded_tokenizer()};
  {
    torch::NoGradGuard no_grad;
    for (auto& p : models[1]->parameters()) p.add_(0.1);  // the broadcast makes them rank 0's
  }
  std::vector<double> restarts(2);
  on_ranks(2, [&](ProcessGroup& group) {
    auto ranks = std::make_shared<GroupRanks>(borrowed(group));
    const auto mine = static_cast<size_t>(group.rank());
    tokenizer::TokenizerTrainer trainer(models[mine], tokenizer_training(b), c10::Device(c10::kCPU), core::Precision::kFp32);
    trainer.share_across(ranks);
    // Rank r: rows r*b ... of the whole batch, the order gather_rows stacks them in.
    for (int64_t s = 0; s < steps; ++s) trainer.train_step(frames.narrow(0, s * 2 * b + group.rank() * b, b));
    restarts[mine] = core::find_scalar(trainer.train_step(frames.narrow(0, group.rank() * b, b)), "tokenizer/restarts").value();
    models[mine]->quantizer()->share_across(nullptr);  // the group ends with this thread; the model outlives it
  });

  EXPECT_EQ(restarts[0], restarts_one);
  EXPECT_EQ(restarts[1], restarts_one);
  EXPECT_TRUE(torch::equal(models[0]->quantizer()->codebook(), models[1]->quantizer()->codebook())) << "the ranks' codebooks are identical";
  const auto reference = one.model()->named_parameters();
  for (int rank = 0; rank < 2; ++rank) {
    const at::Tensor& codebook = models[static_cast<size_t>(rank)]->quantizer()->codebook();
    EXPECT_TRUE(torch::allclose(codebook, one.model()->quantizer()->codebook(), 1e-5, 1e-5))
        << "rank " << rank << ": codebook max difference " << (codebook - one.model()->quantizer()->codebook()).abs().max().item<double>();
    for (const auto& p : models[static_cast<size_t>(rank)]->named_parameters()) {
      at::Tensor value = p.value(), expected = reference[p.key()];
      if (p.key().ends_with("attention.qkv.bias")) {
        // [query | key | value] biases. The keys' bias adds the same q.b to every logit of a
        // query, which softmax ignores: its gradient is rounding noise (AdamW turns noise into
        // steps of lr's size), so the two halves the model computes with are compared.
        const int64_t c = value.size(0) / 3;
        value = torch::cat({value.narrow(0, 0, c), value.narrow(0, 2 * c, c)});
        expected = torch::cat({expected.narrow(0, 0, c), expected.narrow(0, 2 * c, c)});
      }
      EXPECT_TRUE(torch::allclose(value, expected, 1e-5, 1e-5))
          << "rank " << rank << ", " << p.key() << ": max difference " << (value - expected).abs().max().item<double>();
    }
  }
  // What the models compute: the same reconstructions.
  torch::NoGradGuard no_grad;
  one.model()->eval();
  models[1]->eval();
  const torch::Tensor x = one.model()->frames_to_input(frames.narrow(0, 0, 2));
  const torch::Tensor a = one.model()->forward(x).frames, r = models[1]->forward(x).frames;
  EXPECT_TRUE(torch::allclose(a, r, 1e-4, 1e-4)) << "max difference " << (a - r).abs().max().item<double>();
}

}  // namespace
}  // namespace wm::dist
