// The shared optimizer setup and the training-loop skeleton every trainer runs on: the
// schedule, the decay groups, the option ranges, the metrics / evaluation / checkpoint
// cadence, resume and the time budget — on a toy regression phase (several ranks:
// tests/dist/distributed_loop_test.cpp).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <thread>

#include "core/error.h"
#include "core/train_loop.h"
#include "core/training_options.h"
#include "test_support.h"

namespace wm::core {
namespace {

TEST(TrainingOptions, WarmsUpLinearlyThenDecaysToTheFloorByTheLastStep) {
  TrainingOptions o;
  o.lr = 1.0, o.warmup_steps = 4, o.steps = 104, o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(o.learning_rate(0), 0.25);
  EXPECT_DOUBLE_EQ(o.learning_rate(3), 1.0);
  EXPECT_DOUBLE_EQ(o.learning_rate(4), 1.0);        // the cosine starts at the peak
  EXPECT_NEAR(o.learning_rate(54), 0.55, 1e-12);    // halfway: the middle of peak and floor
  EXPECT_DOUBLE_EQ(o.learning_rate(104), 0.1);
  EXPECT_DOUBLE_EQ(o.learning_rate(500), 0.1);      // flat after
}

TEST(TrainingOptions, ValuesOutsideTheirRangeAreNamedWithTheirSection) {
  auto message = [](auto change) {
    TrainingOptions o;
    change(o);
    try {
      o.validate("dynamics_train");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message([](TrainingOptions& o) { o.lr = std::nan(""); }).find("dynamics_train.lr = nan"), std::string::npos);
  EXPECT_NE(message([](TrainingOptions& o) { o.eval_every = 0; }).find("dynamics_train.eval_every = 0"), std::string::npos);
  EXPECT_NE(message([](TrainingOptions& o) { o.batch_size = -1; }).find("dynamics_train.batch_size = -1"), std::string::npos);
  EXPECT_NE(message([](TrainingOptions& o) { o.time_budget_s = std::nan(""); }).find("time_budget_s = nan"), std::string::npos);
  EXPECT_NE(message([](TrainingOptions& o) { o.min_lr_ratio = 2; }).find("min_lr_ratio"), std::string::npos);
  EXPECT_NE(message([](TrainingOptions& o) { o.grad_clip = 0; }).find("grad_clip"), std::string::npos);
  EXPECT_EQ(message([](TrainingOptions&) {}), "accepted");
}

TEST(TrainingOptions, AdamWDecaysOnlyTheDecayedGroupAndTheSetterReachesEveryGroup) {
  TrainingOptions o;
  o.lr = 0.1, o.weight_decay = 0.5;
  torch::Tensor decayed = torch::ones({3}).requires_grad_(), other = torch::ones({3}).requires_grad_();
  auto adamw = make_adamw({decayed}, {other}, o);
  decayed.mutable_grad() = torch::zeros({3});
  other.mutable_grad() = torch::zeros({3});
  adamw->step();  // zero gradients: only decoupled weight decay moves anything
  EXPECT_TRUE(torch::allclose(decayed, torch::full({3}, 1 - 0.1 * 0.5)));
  EXPECT_TRUE(torch::equal(other, torch::ones({3})));
  set_learning_rate(*adamw, 0.01);
  for (const auto& group : adamw->param_groups()) EXPECT_DOUBLE_EQ(group.options().get_lr(), 0.01);
}

// A phase that fits y = 3x with one weight, counting its evaluations.
struct ToyPhase {
  explicit ToyPhase(TrainingOptions o) : options(o), weight(torch::zeros({1}, torch::requires_grad())) {
    adamw = make_adamw({weight}, {}, options);
  }
  TrainPhase phase(std::function<void()> on_step = {}) {
    return {.name = "toy",
            .options = &options,
            .step = [this] { return step; },
            .train_step =
                [this, on_step] {
                  if (on_step) on_step();
                  set_learning_rate(*adamw, options.learning_rate(step));
                  const torch::Tensor x = torch::randn({16});
                  const torch::Tensor loss = (weight * x - 3 * x).pow(2).mean();
                  adamw->zero_grad();
                  loss.backward();
                  adamw->step();
                  ++step;
                  return Scalars{{"toy/loss", loss.item<double>()}};
                },
            .evaluate =
                [this] {
                  ++evaluations;
                  return Scalars{{"toy/holdout_weight", weight.item<double>()}};
                },
            .save =
                [this](CheckpointWriter& writer) {
                  writer.add_optimizer("toy_adamw", *adamw);
                  writer.set_counter("toy_step", step);
                  writer.set_text("toy_weight", std::to_string(weight.item<double>()));
                },
            .restore =
                [this](const Checkpoint& checkpoint) {
                  checkpoint.restore_optimizer("toy_adamw", *adamw);
                  step = checkpoint.counter("toy_step");
                  torch::NoGradGuard no_grad;
                  weight.fill_(std::stod(checkpoint.text("toy_weight")));
                }};
  }
  TrainingOptions options;
  torch::Tensor weight;
  std::unique_ptr<torch::optim::AdamW> adamw;
  int64_t step = 0;
  int evaluations = 0;
};

TrainingOptions toy_options() {
  TrainingOptions o;
  o.steps = 10, o.lr = 0.3, o.warmup_steps = 1, o.eval_every = 4;
  return o;
}

std::vector<nlohmann::json> metrics_lines(const std::filesystem::path& run) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

class TrainLoop : public ::testing::Test {
 protected:
  RunContext context(int64_t log_every = 3, int64_t checkpoint_every = 5, int64_t keep_last = 10) {
    RunOptions run;
    run.out_dir = dir_.path().string();
    run.name = "r";
    LogOptions log;
    log.every_steps = log_every;
    log.tensorboard = false;
    CheckpointOptions checkpoint;
    checkpoint.every_steps = checkpoint_every;
    checkpoint.keep_last = keep_last;
    return RunContext(run, log, checkpoint, "model: toy\n");
  }
  test::TempDir dir_;
};

TEST_F(TrainLoop, LogsEvaluatesAndCheckpointsAtTheirCadenceAndOnceMoreAtTheEnd) {
  RunContext run = context();
  ToyPhase toy(toy_options());
  const PhaseReport report = run_phase(run, toy.phase(), 10);
  EXPECT_EQ(report.steps, 10);
  EXPECT_EQ(toy.evaluations, 3);  // steps 4 and 8, and at the end (10)
  // From 0 toward 3: AdamW moves about lr per step, and the cosine sums to ~1.7 here.
  EXPECT_GT(toy.weight.item<double>(), 1.0) << "the toy regression learns";
  EXPECT_LT(toy.weight.item<double>(), 4.0);
  std::vector<int64_t> loss_steps, eval_steps;
  for (const auto& line : metrics_lines(run.dir().root())) {
    EXPECT_TRUE(line.contains("time_s"));
    if (line.contains("toy/loss")) loss_steps.push_back(line["step"]);
    if (line.contains("toy/holdout_weight")) eval_steps.push_back(line["step"]);
  }
  EXPECT_EQ(loss_steps, (std::vector<int64_t>{3, 6, 9}));
  EXPECT_EQ(eval_steps, (std::vector<int64_t>{4, 8, 10}));
  const auto saved = run.checkpoints().list("toy");
  ASSERT_EQ(saved.size(), 2u);  // step 5 by cadence, step 10 at the end
  EXPECT_EQ(saved[0].filename(), "toy_000000010.ckpt");
  EXPECT_EQ(saved[1].filename(), "toy_000000005.ckpt");
  EXPECT_EQ(Checkpoint::load(saved[0]).config_yaml(), "model: toy\n");
}

TEST_F(TrainLoop, AResumedPhaseContinuesFromItsNewestCheckpoint) {
  {
    RunContext run = context();
    ToyPhase toy(toy_options());
    run_phase(run, toy.phase(), 7);  // checkpoints at 5 and at the end, 7
  }
  RunContext run = context();
  ToyPhase fresh(toy_options());
  TrainPhase phase = fresh.phase();
  ASSERT_TRUE(resume_phase(run, phase));
  EXPECT_EQ(fresh.step, 7);
  EXPECT_NE(fresh.weight.item<double>(), 0.0);
  const PhaseReport report = run_phase(run, phase, 10);
  EXPECT_EQ(report.steps, 3);
  EXPECT_EQ(run.checkpoints().list("toy").front().filename(), "toy_000000010.ckpt");
}

// Resuming a phase that reached its last step adds nothing: no second final evaluation in
// the metrics, no new checkpoint.
TEST_F(TrainLoop, AFinishedPhaseResumedLogsItsFinalEvaluationOnce) {
  {
    RunContext run = context();
    ToyPhase toy(toy_options());
    run_phase(run, toy.phase(), 10);
  }
  RunContext run = context();
  ToyPhase fresh(toy_options());
  TrainPhase phase = fresh.phase();
  ASSERT_TRUE(resume_phase(run, phase));
  const auto before = std::filesystem::last_write_time(run.checkpoints().list("toy").front());
  const PhaseReport report = run_phase(run, phase, 10);
  EXPECT_EQ(report.steps, 0);
  EXPECT_EQ(fresh.evaluations, 0);
  int evaluations_at_10 = 0;
  double logged_weight = 0;
  for (const auto& line : metrics_lines(run.dir().root())) {
    if (!line.contains("toy/holdout_weight") || line["step"] != 10) continue;
    ++evaluations_at_10;
    logged_weight = line["toy/holdout_weight"].get<double>();
  }
  EXPECT_EQ(evaluations_at_10, 1);
  EXPECT_EQ(std::filesystem::last_write_time(run.checkpoints().list("toy").front()), before);
  // Its figures are still reported (wm train all's summary and baselines read them), from the
  // logged evaluation.
  const std::optional<double> weight = find_scalar(report.evaluation, "toy/holdout_weight");
  ASSERT_TRUE(weight.has_value());
  EXPECT_DOUBLE_EQ(*weight, logged_weight);
  EXPECT_NE(logged_weight, 0.0);
}

TEST_F(TrainLoop, ResumingWithoutACheckpointStartsFromScratch) {
  RunContext run = context();
  ToyPhase toy(toy_options());
  EXPECT_FALSE(resume_phase(run, toy.phase()));
  EXPECT_EQ(toy.step, 0);
}

TEST_F(TrainLoop, TheTimeBudgetStopsThePhaseWhichStillSavesWhereItStopped) {
  RunContext run = context();
  TrainingOptions o = toy_options();
  o.steps = 1000, o.time_budget_s = 0.2;
  ToyPhase toy(o);
  const PhaseReport report = run_phase(run, toy.phase([] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }), 1000);
  EXPECT_GE(report.steps, 2);
  EXPECT_LT(report.steps, 100);
  EXPECT_GE(report.seconds, 0.2);
  EXPECT_EQ(Checkpoint::load(run.checkpoints().list("toy").front()).counter("toy_step"), report.steps);
}

// A toy phase whose held-out figure follows `curve`, one value per evaluation (then the last
// one again): early stopping watches it, lower is better.
TrainPhase scripted_phase(ToyPhase& toy, std::vector<double> curve) {
  TrainPhase phase = toy.phase();
  phase.best_metric = "toy/holdout";
  phase.evaluate = [&toy, curve] {
    const size_t i = static_cast<size_t>(toy.evaluations++);
    return Scalars{{"toy/holdout", curve[std::min(i, curve.size() - 1)]}, {"toy/holdout_weight", toy.weight.item<double>()}};
  };
  return phase;
}

// Evaluations at 5, 10, ...: the figure is best at step 20 (the 4th), then worse. With
// early_stop_evals 2 the phase stops at step 30 and ends on step 20's checkpoint — kept although
// keep_last 2 would have removed it — with the trainer restored there and the later
// checkpoints renamed, not deleted.
TEST_F(TrainLoop, EarlyStoppingEndsOnTheBestEvaluationsCheckpoint) {
  RunContext run = context(3, /*checkpoint_every=*/5, /*keep_last=*/2);
  TrainingOptions o = toy_options();
  o.steps = 100, o.eval_every = 5, o.early_stop_evals = 2;
  ToyPhase toy(o);
  const PhaseReport report = run_phase(run, scripted_phase(toy, {4, 3, 2, 1, 1.5, 1.2, 0.5}), 100);
  EXPECT_EQ(report.steps, 30);
  EXPECT_EQ(toy.step, 20) << "the trainer is back at the best evaluation";
  EXPECT_EQ(find_scalar(report.evaluation, "toy/holdout"), 1.0);
  const auto kept = run.checkpoints().list("toy");
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.front().filename(), "toy_000000020.ckpt") << "the newest checkpoint is the best";
  EXPECT_EQ(Checkpoint::load(kept.front()).counter("toy_step"), 20);
  for (const char* later : {"toy_000000025.ckpt.after_best", "toy_000000030.ckpt.after_best"}) {
    EXPECT_TRUE(std::filesystem::exists(run.dir().checkpoints() / later)) << later;
  }
  // A later call (wm train all's next slice) takes no step: the phase is over.
  EXPECT_EQ(run_phase(run, scripted_phase(toy, {0.1}), 100).steps, 0);
}

// A figure that keeps improving never stops the phase, and it ends where it is.
TEST_F(TrainLoop, EarlyStoppingLeavesAnImprovingPhaseAlone) {
  RunContext run = context(3, 5, 2);
  TrainingOptions o = toy_options();
  o.steps = 30, o.eval_every = 5, o.early_stop_evals = 1;
  ToyPhase toy(o);
  const PhaseReport report = run_phase(run, scripted_phase(toy, {6, 5, 4, 3, 2, 1}), 30);
  EXPECT_EQ(report.steps, 30);
  EXPECT_EQ(toy.step, 30);
  EXPECT_EQ(run.checkpoints().list("toy").front().filename(), "toy_000000030.ckpt");
  // The best (step 30) besides keep_last = 2 others.
  EXPECT_EQ(run.checkpoints().list("toy").size(), 3u);
}

// Early stopping without held-out evaluations is refused naming the key; a negative count
// names its range.
TEST_F(TrainLoop, EarlyStoppingWithoutEvaluationsIsRefusedNamingTheKey) {
  RunContext run = context();
  TrainingOptions o = toy_options();
  o.early_stop_evals = 3;
  ToyPhase toy(o);
  TrainPhase phase = toy.phase();
  phase.evaluate = {};
  EXPECT_NE(test::error_of([&] { run_phase(run, phase, 10); }).find("toy_train.early_stop_evals = 3 needs held-out evaluations"),
            std::string::npos);
  EXPECT_EQ(toy.step, 0);
  o.early_stop_evals = -1;
  EXPECT_NE(test::error_of([&] { o.validate("dynamics_train"); }).find("dynamics_train.early_stop_evals = -1"), std::string::npos);
}

TEST_F(TrainLoop, ZeroCadencesAreRefusedNamingTheKey) {
  try {
    context(/*log_every=*/0);
    ADD_FAILURE() << "log.every_steps = 0 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("log.every_steps = 0"), std::string::npos) << e.what();
  }
  try {
    context(3, /*checkpoint_every=*/0);
    ADD_FAILURE() << "checkpoint.every_steps = 0 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint.every_steps = 0"), std::string::npos) << e.what();
  }
}

TEST_F(TrainLoop, ANonFiniteLossStopsThePhaseNamingTheStepAndTheLastGoodCheckpoint) {
  for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    test::TempDir dir;
    RunOptions run_options;
    run_options.out_dir = dir.path().string();
    run_options.name = "r";
    LogOptions log;
    log.tensorboard = false;
    CheckpointOptions checkpoint;
    checkpoint.every_steps = 2;
    RunContext run(run_options, log, checkpoint, "model: toy\n");
    ToyPhase toy(toy_options());
    TrainPhase phase = toy.phase();
    const auto train_step = phase.train_step;
    phase.train_step = [&, train_step] {
      Scalars scalars = train_step();
      if (toy.step == 5) scalars[0].second = bad;  // the weights went bad in step 5
      return scalars;
    };
    const std::string message = test::error_of([&] { run_phase(run, phase, 10); });
    EXPECT_NE(message.find(std::string("toy: toy/loss is ") + (std::isnan(bad) ? "NaN" : "infinite") + " at step 5"), std::string::npos) << message;
    EXPECT_NE(message.find("toy_000000004.ckpt"), std::string::npos) << message;
    const auto saved = run.checkpoints().list("toy");
    ASSERT_FALSE(saved.empty());
    EXPECT_EQ(saved.front().filename(), "toy_000000004.ckpt") << "nothing was saved after the bad step";
  }
}

}  // namespace
}  // namespace wm::core
