#include "core/train_loop.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/progress.h"

namespace wm::core {

RunContext::RunContext(const RunOptions& run, LogOptions log, CheckpointOptions checkpoint, std::string config_yaml, int rank)
    : dir_(run),
      log_(std::move(log)),
      checkpoint_(checkpoint),
      checkpoints_(dir_.checkpoints(), checkpoint.keep_last),
      config_yaml_(std::move(config_yaml)),
      rank_(rank) {
  if (log_.every_steps < 1) throw Error("log.every_steps = " + std::to_string(log_.every_steps) + " is outside its range: 1 or more");
  if (checkpoint_.every_steps < 1) {
    throw Error("checkpoint.every_steps = " + std::to_string(checkpoint_.every_steps) + " is outside its range: 1 or more");
  }
  if (writes()) metrics_ = std::make_unique<MetricsWriter>(dir_.root(), log_.tensorboard);
}

double RunContext::elapsed_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

void RunContext::write_metrics(int64_t step, Scalars scalars) {
  if (!metrics_) return;
  scalars.emplace_back("time_s", elapsed_s());
  metrics_->write(step, scalars);
}

bool resume_phase(RunContext& run, const TrainPhase& phase) {
  std::optional<Checkpoint> checkpoint = run.checkpoints().load_latest_valid(phase.name);
  if (!checkpoint) {
    spdlog::warn("--resume: no valid {} checkpoint in {}; starting from scratch", phase.name, run.dir().checkpoints().string());
    return false;
  }
  phase.restore(*checkpoint);
  checkpoint->restore_rng_states();
  spdlog::info("resumed from {} at step {}", checkpoint->path().string(), phase.step());
  return true;
}

void save_phase(RunContext& run, const TrainPhase& phase) {
  if (!run.writes()) return;
  CheckpointWriter writer;
  phase.save(writer);
  writer.set_config_yaml(run.config_yaml());
  writer.capture_rng_states();
  run.checkpoints().save(writer, phase.name, phase.step());
}

PhaseReport run_phase(RunContext& run, const TrainPhase& phase, int64_t until_step) {
  const TrainingOptions& options = *phase.options;
  const int64_t first = phase.step();
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  PhaseReport report;
  auto evaluate = [&] {
    report.evaluation = phase.evaluate();
    if (!report.evaluation.empty()) run.write_metrics(phase.step(), report.evaluation);
  };
  int64_t evaluated_at = -1, saved_at = -1;
  {
    std::unique_ptr<ProgressBar> progress;
    if (run.writes()) progress = std::make_unique<ProgressBar>(phase.name, until_step - first, "step");
    while (phase.step() < until_step && (options.time_budget_s <= 0 || seconds() < options.time_budget_s)) {
      Scalars scalars = phase.train_step();
      if (progress) progress->advance();
      const int64_t step = phase.step();
      if (step % run.log().every_steps == 0) run.write_metrics(step, std::move(scalars));
      if (phase.evaluate && step % options.eval_every == 0) {
        evaluate();
        evaluated_at = step;
      }
      if (step % run.checkpoint_options().every_steps == 0) {
        save_phase(run, phase);
        saved_at = step;
      }
    }
  }
  if (phase.evaluate && evaluated_at != phase.step()) evaluate();
  if (saved_at != phase.step()) save_phase(run, phase);
  report.steps = phase.step() - first;
  report.seconds = seconds();
  return report;
}

}  // namespace wm::core
