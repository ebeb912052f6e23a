// The training loop (core/train_loop.h) as one rank of several, over real c10d: each rank has a
// run folder of its own here (as on nodes without a shared file system), so whatever rank 1
// knows of checkpoints it learned from rank 0. Rank 0 writes for the job; every rank ends on the
// same weights, early stopping included; a refusal and a resume reach every rank.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>

#include "core/error.h"
#include "core/train_loop.h"
#include "dist/group_ranks.h"
#include "dist/ranks_test_support.h"
#include "test_support.h"

namespace wm::dist {
namespace {

// Fits y = 3x with one weight; rank r sees x = 1 + r + step / 10, so the ranks' gradients
// differ and only their mean keeps the weights equal. Its held-out figure follows `curve`.
struct RankToy {
  RankToy(core::Ranks& ranks, core::TrainingOptions o, std::vector<double> curve)
      : ranks(ranks), options(o), curve(std::move(curve)), weight(torch::zeros({1}, torch::requires_grad())) {
    adamw = core::make_adamw({weight}, {}, options);
    sync = ranks.gradient_sync()({weight});
  }
  core::TrainPhase phase() {
    return {.name = "toy",
            .options = &options,
            .step = [this] { return step; },
            .train_step =
                [this] {
                  const torch::Tensor x = torch::full({4}, 1.0 + ranks.rank() + 0.1 * static_cast<double>(step));
                  const torch::Tensor loss = (weight * x - 3 * x).pow(2).mean();
                  adamw->zero_grad();
                  sync->before_backward(true);
                  loss.backward();
                  sync->finish();
                  adamw->step();
                  ++step;
                  trajectory.push_back(weight.item<double>());
                  return core::Scalars{{"toy/loss", loss.item<double>()},
                                       {"toy/rank", static_cast<double>(ranks.rank())},
                                       {"toy/items_per_s", 100.0 * (ranks.rank() + 1)}};
                },
            .evaluate =
                [this] {
                  const size_t i = static_cast<size_t>(evaluations++);
                  return core::Scalars{{"toy/holdout", curve[std::min(i, curve.size() - 1)]}};
                },
            .best_metric = "toy/holdout",
            .save =
                [this](core::CheckpointWriter& writer) {
                  writer.add_optimizer("toy_adamw", *adamw);
                  writer.set_counter("toy_step", step);
                  writer.set_text("toy_weight", fmt::format("{:.17g}", weight.item<double>()));
                },
            .restore =
                [this](const core::Checkpoint& checkpoint) {
                  checkpoint.restore_optimizer("toy_adamw", *adamw);
                  step = checkpoint.counter("toy_step");
                  torch::NoGradGuard no_grad;
                  weight.fill_(std::stod(checkpoint.text("toy_weight")));
                }};
  }
  core::Ranks& ranks;
  core::TrainingOptions options;
  std::vector<double> curve;
  std::vector<double> trajectory;  // the weight after each step this process trained
  torch::Tensor weight;
  std::unique_ptr<torch::optim::AdamW> adamw;
  std::unique_ptr<core::GradientSync> sync;
  int64_t step = 0;
  int evaluations = 0;
};

core::TrainingOptions toy_options() {
  core::TrainingOptions o;
  o.steps = 12, o.lr = 0.3, o.warmup_steps = 1, o.eval_every = 4, o.early_stop_evals = 1;
  return o;
}

class DistributedLoop : public ::testing::Test {
 protected:
  // Rank r's run: <tmp>/rank<r>/r, checkpoints every 4 steps, a metrics line every 2.
  core::RunContext context(const std::shared_ptr<core::Ranks>& ranks) {
    core::RunOptions run;
    run.out_dir = (dir_.path() / ("rank" + std::to_string(ranks->rank()))).string();
    run.name = "r";
    core::LogOptions log;
    log.every_steps = 2;
    log.tensorboard = false;
    core::CheckpointOptions checkpoint;
    checkpoint.every_steps = 4;
    return core::RunContext(run, log, checkpoint, "model: toy\n", ranks);
  }
  std::filesystem::path root(int rank) const { return dir_.path() / ("rank" + std::to_string(rank)) / "r"; }
  test::TempDir dir_;
};

TEST_F(DistributedLoop, RankZeroWritesForTheJobAndEveryRankEndsOnTheSameBestCheckpoint) {
  std::vector<double> weights(2), weights_at_best(2);
  std::vector<std::vector<double>> trajectories(2);
  std::vector<int64_t> steps(2);
  on_ranks(2, [&](ProcessGroup& group) {
    auto ranks = std::make_shared<GroupRanks>(borrowed(group));
    core::RunContext run = context(ranks);
    // Held-out figures at steps 4, 8, 12: best at 8, then worse: the phase ends on step 8.
    RankToy toy(*ranks, toy_options(), {1.0, 0.5, 0.9});
    core::claim_phase(run, "toy", core::PhaseStart::kFresh);
    core::run_phase(run, toy.phase(), 12);
    steps[static_cast<size_t>(group.rank())] = toy.step;
    weights_at_best[static_cast<size_t>(group.rank())] = toy.weight.item<double>();
    trajectories[static_cast<size_t>(group.rank())] = toy.trajectory;
  });
  // The gradients differ per rank; only their mean keeps every step's weight the same.
  ASSERT_EQ(trajectories[0].size(), 12u);
  EXPECT_EQ(trajectories[0], trajectories[1]);
  EXPECT_EQ(steps[0], 8);
  EXPECT_EQ(steps[1], 8) << "rank 1 restored rank 0's best checkpoint, which only rank 0's folder holds";
  EXPECT_EQ(weights_at_best[0], weights_at_best[1]);

  EXPECT_FALSE(std::filesystem::exists(root(1) / "metrics.jsonl"));
  EXPECT_TRUE(std::filesystem::is_empty(root(1) / "checkpoints"));
  std::ifstream in(root(0) / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (!j.contains("toy/loss")) continue;
    ++lines;
    EXPECT_DOUBLE_EQ(j["toy/rank"].get<double>(), 0.5) << "the mean over the ranks: " << line;
    EXPECT_DOUBLE_EQ(j["toy/items_per_s"].get<double>(), 300) << "the job's rate: " << line;
  }
  EXPECT_EQ(lines, 6) << "one line every 2 steps, written once";

  // Again on the same folders: a fresh start is refused on every rank (rank 1's own folder is
  // empty), and --resume brings every rank to rank 0's newest checkpoint.
  std::vector<std::string> refusals(2);
  on_ranks(2, [&](ProcessGroup& group) {
    auto ranks = std::make_shared<GroupRanks>(borrowed(group));
    core::RunContext run = context(ranks);
    RankToy toy(*ranks, toy_options(), {1.0});
    refusals[static_cast<size_t>(group.rank())] = test::error_of([&] { core::claim_phase(run, "toy", core::PhaseStart::kFresh); });
    ASSERT_TRUE(core::resume_phase(run, toy.phase()));
    steps[static_cast<size_t>(group.rank())] = toy.step;
    weights[static_cast<size_t>(group.rank())] = toy.weight.item<double>();
  });
  for (const std::string& refusal : refusals) EXPECT_NE(refusal.find("already holds"), std::string::npos) << refusal;
  EXPECT_EQ(refusals[0], refusals[1]);
  EXPECT_EQ(steps[0], 8);
  EXPECT_EQ(steps[1], 8);
  EXPECT_EQ(weights[0], weights_at_best[0]);
  EXPECT_EQ(weights[1], weights_at_best[0]);
}

}  // namespace
}  // namespace wm::dist
