// One training-loop skeleton for every phase of a run (tokenizer, dynamics, policy): resume
// from the newest valid checkpoint, optimizer steps up to a target or a time budget, the
// metrics / evaluation / checkpoint cadence, the final evaluation and save, and rank
// awareness: under data parallelism every rank runs the same loop in step; each step's figures
// are combined over the ranks (core/ranks.h) and rank 0 alone writes metrics and checkpoints,
// and every rank restores what rank 0 reads. `wm train <part>` runs a phase once to its last
// step; `wm train all` runs each phase a slice at a time, epoch by epoch.
//
//   RunContext run(config.run, config.log, config.checkpoint, config_yaml, ranks);
//   TrainPhase phase{"dynamics", options, [&] { return trainer.step(); },
//                    [&] { return trainer.train_step(next_batch()); }, evaluate, save, restore};
//   resume_phase(run, phase);           // with --resume
//   run_phase(run, phase, options.steps);
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/checkpoint.h"
#include "core/metrics.h"
#include "core/options.h"
#include "core/phase_start.h"
#include "core/ranks.h"
#include "core/run_dir.h"
#include "core/training_options.h"

namespace wm::core {

// What every phase of a run shares: its folder, metrics, checkpoints and cadences.
class RunContext {
 public:
  // Creates the run folder; rank 0 opens metrics.jsonl (and TensorBoard). `ranks`: the job's
  // processes (none: a job of one).
  RunContext(const RunOptions& run, LogOptions log, CheckpointOptions checkpoint, std::string config_yaml,
             std::shared_ptr<Ranks> ranks = nullptr);

  const RunDir& dir() const { return dir_; }
  const LogOptions& log() const { return log_; }
  const CheckpointOptions& checkpoint_options() const { return checkpoint_; }
  const CheckpointDir& checkpoints() const { return checkpoints_; }
  const std::string& config_yaml() const { return config_yaml_; }
  // The config as the data completed it (e.g. the dynamics model's vocabulary): what later
  // checkpoints store.
  void set_config_yaml(std::string yaml) { config_yaml_ = std::move(yaml); }
  Ranks& ranks() const { return *ranks_; }
  const std::shared_ptr<Ranks>& shared_ranks() const { return ranks_; }
  int rank() const { return ranks_->rank(); }
  bool writes() const { return rank() == 0; }
  // A checkpoint just restored rank 0's random streams on every rank: the other ranks take
  // their own again (diverge_random_stream), salted with `step`.
  void diverge_random_stream(int64_t step) const;
  // Seconds since this context was made (the "time_s" of every metrics line).
  double elapsed_s() const;
  // Collective: the figures combined over the ranks (combine_figures), written as a metrics
  // line by rank 0 (with time_s added). Returns what was written.
  Scalars write_metrics(int64_t step, Scalars scalars);
  // A metrics line of figures already the same on every rank (rank 0; elsewhere nothing).
  void write_combined_metrics(int64_t step, Scalars scalars);
  // Collective: rank 0 writes the run's config files (RunDir::write_config).
  void write_config(const std::string& yaml, const std::string& command);
  // Collective: `work` run on rank 0 alone, its text returned on every rank; whatever it throws
  // there is thrown on every rank as wm::core::Error with its message (the others would
  // otherwise wait for a broadcast that never comes). One process: just `work()`.
  std::string from_rank0(const std::function<std::string()>& work);
  // Collective: the checkpoint at `path` as rank 0 reads it, on every rank (the others need
  // not see rank 0's files). Throws wm::core::Error on every rank when rank 0 cannot read it.
  Checkpoint checkpoint_from_rank0(const std::filesystem::path& path);
  // Collective: the newest valid checkpoint of `kind` that rank 0 finds, on every rank.
  std::optional<Checkpoint> latest_checkpoint_from_rank0(const std::string& kind);
  // See MetricsWriter::drop_after (rank 0; elsewhere nothing).
  int64_t drop_metrics_after(const std::string& phase, int64_t step);

  // Early stopping's record of a phase's best evaluation, kept across run_phase calls (wm
  // train all runs a phase in slices) for the life of this context: a resumed run starts a
  // new record.
  struct BestEvaluation {
    int64_t step = -1;                  // -1: no evaluation yet
    double value = 0;                   // its TrainPhase::best_metric
    Scalars figures;                    // everything it logged
    std::filesystem::path checkpoint;   // saved at that step, protected from keep_last
    int64_t evaluations_since = 0;      // evaluations since, none better
    bool stopped = false;               // early_stop_evals ran out: the phase is over
  };
  BestEvaluation& best_evaluation(const std::string& phase) { return best_[phase]; }
  void protect_checkpoint(const std::string& kind, std::filesystem::path path) { checkpoints_.protect(kind, std::move(path)); }

 private:
  RunDir dir_;
  LogOptions log_;
  CheckpointOptions checkpoint_;
  CheckpointDir checkpoints_;
  std::string config_yaml_;
  uint64_t seed_;
  std::shared_ptr<Ranks> ranks_;
  std::unique_ptr<MetricsWriter> metrics_;
  std::map<std::string, BestEvaluation> best_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// A trainer as the loop drives it.
struct TrainPhase {
  std::string name;                                 // "tokenizer", "dynamics", "policy": checkpoint kind, progress label
  const TrainingOptions* options = nullptr;         // eval_every, time_budget_s
  std::function<int64_t()> step;                    // optimizer steps done so far
  std::function<Scalars()> train_step;              // one optimizer step on the next batch -> figures to log
  std::function<Scalars()> evaluate;                // held-out figures (it logs its own line); none: not set, or {}
  std::string best_metric;                          // the figure of `evaluate` early stopping watches; "": none
  bool best_is_highest = false;                     // whether more of best_metric is better (PSNR) or less (bits/token)
  std::function<void(CheckpointWriter&)> save;      // model, optimizer, counters
  std::function<void(const Checkpoint&)> restore;   // their inverse; throws wm::core::Error on a mismatch
};

// What a training command does with its phase's checkpoints before its first step, once its
// data and trainer exist (so a command that fails on them moves nothing). kFresh: a wm::core::Error naming the newest one and the ways on when the run
// already holds checkpoints of `phase`. kOverwrite: they and a copy of metrics.jsonl move
// into checkpoints/replaced_<UTC time>/ (all or, on an error, none), and the phase's lines
// leave metrics.jsonl. Two commands started at once on one run are not told apart. kResume: nothing (resume_phase follows once the trainer exists).
void claim_phase(RunContext& run, const std::string& phase, PhaseStart start);

// Restores the phase (and the RNG states) from the newest valid checkpoint of its kind, and
// drops the phase's metrics lines logged after that step (they are about to be re-done). A
// warning names each <phase>_train key whose value differs from the checkpoint's config (old
// and new value): training goes on with the new ones. Returns false, with a warning, when
// there is none.
bool resume_phase(RunContext& run, const TrainPhase& phase);

struct PhaseReport {
  int64_t steps = 0;     // optimizer steps taken by this call
  double seconds = 0;    // wall clock of this call
  Scalars evaluation;    // the last evaluation's figures (empty without one)
};

// Optimizer steps until the phase's step reaches `until_step` or the time budget of this
// call runs out: metrics every log.every_steps, evaluation every eval_every, a checkpoint
// every checkpoint.every_steps; at the end an evaluation and a checkpoint unless this step
// already had them.
// With early_stop_evals (needs `evaluate` and `best_metric`): an evaluation that beats the
// best is checkpointed at once, and that checkpoint is kept whatever keep_last says; after
// early_stop_evals evaluations in a row without a better one the phase stops. When it stops
// so, or reaches its last step or the time budget, it ends on the best: the trainer is
// restored from that checkpoint, later checkpoints of the phase are renamed *.ckpt.after_best
// (kept, but no longer what loading or --resume finds), and the report carries the best
// evaluation. A small dataset is memorised within a few hundred steps; the held-out figure
// is then best long before the schedule ends.
PhaseReport run_phase(RunContext& run, const TrainPhase& phase, int64_t until_step);

// A checkpoint of the phase at its current step, written by rank 0 (elsewhere an empty path);
// collective: every rank waits until it is on disk.
std::filesystem::path save_phase(RunContext& run, const TrainPhase& phase);

}  // namespace wm::core
