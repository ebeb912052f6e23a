#include "core/train_loop.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"

namespace wm::core {

RunContext::RunContext(const RunOptions& run, LogOptions log, CheckpointOptions checkpoint, std::string config_yaml, std::shared_ptr<Ranks> ranks)
    : dir_(run),
      log_(std::move(log)),
      checkpoint_(checkpoint),
      checkpoints_(dir_.checkpoints(), checkpoint.keep_last),
      config_yaml_(std::move(config_yaml)),
      seed_(static_cast<uint64_t>(run.seed)),
      ranks_(ranks ? std::move(ranks) : std::make_shared<OneProcess>()) {
  if (log_.every_steps < 1) throw Error("log.every_steps = " + std::to_string(log_.every_steps) + " is outside its range: 1 or more");
  if (checkpoint_.every_steps < 1) {
    throw Error("checkpoint.every_steps = " + std::to_string(checkpoint_.every_steps) + " is outside its range: 1 or more");
  }
  if (writes()) metrics_ = std::make_unique<MetricsWriter>(dir_.root(), log_.tensorboard);
}

void RunContext::diverge_random_stream(int64_t step) const { core::diverge_random_stream(*ranks_, seed_, static_cast<uint64_t>(step)); }

double RunContext::elapsed_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

Scalars RunContext::write_metrics(int64_t step, Scalars scalars) {
  Scalars combined = combine_figures(*ranks_, scalars);
  write_combined_metrics(step, combined);
  return combined;
}

void RunContext::write_combined_metrics(int64_t step, Scalars scalars) {
  if (!metrics_) return;
  scalars.emplace_back("time_s", elapsed_s());
  metrics_->write(step, scalars);
}

namespace {

// What rank 0 sends the others about a checkpoint: 'C' <path> '\n' <the file's bytes>, or 'N'
// for none.
Checkpoint received_checkpoint(const std::string& message) {
  const size_t end_of_path = message.find('\n');
  return Checkpoint::from_bytes(message.substr(end_of_path + 1), message.substr(1, end_of_path - 1));
}

std::string checkpoint_message(const std::filesystem::path& path) { return "C" + path.string() + "\n" + read_file(path); }

}  // namespace

std::string RunContext::from_rank0(const std::function<std::string()>& work) {
  if (ranks_->world_size() == 1) return work();
  std::string message;
  if (writes()) {
    try {
      message = "O" + work();
    } catch (const std::exception& e) {
      message = std::string("E") + e.what();
    }
  }
  message = ranks_->broadcast_bytes_from_rank0(message);
  if (message[0] == 'E') throw Error(message.substr(1));
  return message.substr(1);
}

void RunContext::write_config(const std::string& yaml, const std::string& command) {
  from_rank0([&] {
    dir_.write_config(yaml, command);
    return std::string();
  });
}

Checkpoint RunContext::checkpoint_from_rank0(const std::filesystem::path& path) {
  if (ranks_->world_size() == 1) return Checkpoint::load(path);
  return received_checkpoint(from_rank0([&] {
    std::string message = checkpoint_message(path);
    Checkpoint::from_bytes(message.substr(message.find('\n') + 1), path);  // rank 0's own checks first
    return message;
  }));
}

std::optional<Checkpoint> RunContext::latest_checkpoint_from_rank0(const std::string& kind) {
  if (ranks_->world_size() == 1) return checkpoints_.load_latest_valid(kind);
  std::optional<Checkpoint> mine;
  const std::string message = from_rank0([&] {
    mine = checkpoints_.load_latest_valid(kind);
    return mine ? checkpoint_message(mine->path()) : std::string("N");
  });
  if (message == "N") return std::nullopt;
  if (mine) return mine;
  return received_checkpoint(message);
}

namespace {

// "<section>.<key> 10 -> 15, ..." for the phase's training keys that differ from the checkpoint's.
std::string changed_schedule(const Checkpoint& checkpoint, const RunContext& run, const std::string& phase) {
  std::string changed;
  for (const ChangedKey& key : changed_keys(checkpoint.config_yaml(), run.config_yaml(), phase + "_train")) {
    if (key.key == phase + "_train.time_budget_s") continue;  // a budget per invocation, meant to change
    changed += (changed.empty() ? "" : ", ") + key.key + " " + (key.old_value.empty() ? "(unset)" : key.old_value) + " -> " +
               (key.new_value.empty() ? "(unset)" : key.new_value);
  }
  return changed;
}

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

}  // namespace

int64_t RunContext::drop_metrics_after(const std::string& phase, int64_t step) { return metrics_ ? metrics_->drop_after(phase, step) : 0; }

bool resume_phase(RunContext& run, const TrainPhase& phase) {
  std::optional<Checkpoint> checkpoint = run.latest_checkpoint_from_rank0(phase.name);
  if (!checkpoint) {
    spdlog::warn("--resume: no valid {} checkpoint in {}; starting from scratch", phase.name, run.dir().checkpoints().string());
    return false;
  }
  phase.restore(*checkpoint);
  checkpoint->restore_rng_states();
  run.diverge_random_stream(phase.step());
  const std::string changed = changed_schedule(*checkpoint, run, phase.name);
  if (!changed.empty()) {
    spdlog::warn("--resume: {} differs from the checkpoint's config: {}; training goes on with the new values (the learning rate "
                 "follows the new schedule from step {})",
                 phase.name + "_train", changed, phase.step());
  }
  const int64_t dropped = run.drop_metrics_after(phase.name, phase.step());
  spdlog::info("resumed from {} at step {}{}", checkpoint->path().string(), phase.step(),
               dropped > 0 ? fmt::format(" ({} metrics line(s) of later steps dropped: they are re-done)", dropped) : std::string());
  return true;
}

namespace {

void claim_on_rank0(RunContext& run, const std::string& phase, PhaseStart start) {
  const std::vector<std::filesystem::path> existing = run.checkpoints().list(phase);
  if (existing.empty()) return;
  if (start == PhaseStart::kFresh) {
    throw Error(run.dir().root().string() + " already holds " + std::to_string(existing.size()) + " " + phase + " checkpoint(s), the newest " +
                existing.front().filename().string() + ": add --resume to continue it, --overwrite to move them aside and start again, "
                "or choose another run.name");
  }
  std::filesystem::path aside = run.dir().checkpoints() / ("replaced_" + utc_stamp());
  for (int n = 2; std::filesystem::exists(aside); ++n) aside = run.dir().checkpoints() / ("replaced_" + utc_stamp() + "_" + std::to_string(n));
  ensure_directory(aside);
  const std::filesystem::path metrics = run.dir().root() / "metrics.jsonl";
  std::error_code ec;
  if (std::filesystem::exists(metrics)) std::filesystem::copy_file(metrics, aside / "metrics.jsonl", ec);
  if (ec) throw Error("--overwrite: cannot copy " + metrics.string() + " to " + aside.string() + ": " + ec.message() + " (nothing was moved)");
  for (size_t i = 0; i < existing.size(); ++i) {
    std::filesystem::rename(existing[i], aside / existing[i].filename(), ec);
    if (!ec) continue;
    // Put back what already moved: the run keeps all its checkpoints or none of them moves.
    std::error_code ignored;
    for (size_t j = 0; j < i; ++j) std::filesystem::rename(aside / existing[j].filename(), existing[j], ignored);
    throw Error("--overwrite: cannot move " + existing[i].string() + " to " + aside.string() + ": " + ec.message() + " (nothing was moved)");
  }
  const int64_t dropped = run.drop_metrics_after(phase, -1);
  spdlog::warn("--overwrite: moved {} {} checkpoint(s) and a copy of metrics.jsonl to {}; {} metrics line(s) of the old {} training dropped",
               existing.size(), phase, aside.string(), dropped, phase);
}

}  // namespace

void claim_phase(RunContext& run, const std::string& phase, PhaseStart start) {
  if (start == PhaseStart::kResume) return;
  // Rank 0 decides; a refusal there is the same one-line error on every rank.
  run.from_rank0([&] {
    claim_on_rank0(run, phase, start);
    return std::string();
  });
}

// A NaN or infinite loss: the weights the step just updated are not finite either. Stop
// before anything saves them, naming the step and the checkpoint to go back to.
void stop_on_non_finite_loss(RunContext& run, const TrainPhase& phase, const Scalars& scalars, int64_t step) {
  for (const auto& [name, value] : scalars) {
    const bool loss = name.size() >= 5 && name.compare(name.size() - 5, 5, "/loss") == 0;
    if (!loss || std::isfinite(value)) continue;
    const std::vector<std::filesystem::path> saved = run.writes() ? run.checkpoints().list(phase.name) : std::vector<std::filesystem::path>{};
    throw Error(phase.name + ": " + name + " is " + (std::isnan(value) ? "NaN" : "infinite") + " at step " + std::to_string(step) +
                "; stopped without saving it (the last checkpoint with finite weights: " +
                (saved.empty() ? std::string("none") : saved.front().string()) + "; a lower lr or grad_clip may help)");
  }
}

std::filesystem::path save_phase(RunContext& run, const TrainPhase& phase) {
  // Rank 0 writes; the others learn its path (early stopping ends on it) once it is on disk,
  // or its error (a full disk) instead of waiting for it.
  return run.from_rank0([&] {
    CheckpointWriter writer;
    phase.save(writer);
    writer.set_config_yaml(run.config_yaml());
    writer.capture_rng_states();
    return run.checkpoints().save(writer, phase.name, phase.step()).string();
  });
}

namespace {

// Early stopping's end: the trainer back at the best evaluation's checkpoint, the phase's
// later checkpoints renamed out of the way.
void end_on_best(RunContext& run, const TrainPhase& phase, const RunContext::BestEvaluation& best) {
  const int64_t stopped_at = phase.step();
  const Checkpoint checkpoint = run.checkpoint_from_rank0(best.checkpoint);
  phase.restore(checkpoint);
  checkpoint.restore_rng_states();
  run.diverge_random_stream(phase.step());
  const std::string moved = run.from_rank0([&] {
    int64_t renamed = 0;
    for (const auto& path : run.checkpoints().list(phase.name)) {  // newest first
      if (path == best.checkpoint) break;
      std::filesystem::rename(path, std::filesystem::path(path.string() + ".after_best"));
      ++renamed;
    }
    return std::to_string(renamed);
  });
  spdlog::info("{}: ends on step {}'s checkpoint, its best held-out {} {:.4f} (stopped at step {}; {} later checkpoint(s) renamed *.after_best)",
               phase.name, best.step, phase.best_metric, best.value, stopped_at, moved);
}

// The held-out figures of `phase` that metrics.jsonl holds at `step` (what the evaluation of a
// finished phase logged; what wm train all reports when it resumes after that phase ended).
Scalars logged_evaluation_on_rank0(const RunContext& run, const std::string& phase, int64_t step) {
  Scalars figures;
  std::ifstream in(run.dir().root() / "metrics.jsonl");
  const std::string prefix = phase + "/holdout_";
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer() || j["step"].get<int64_t>() != step) continue;
    for (const auto& [name, value] : j.items()) {
      if (name.rfind(prefix, 0) == 0 && value.is_number()) figures.emplace_back(name, value.get<double>());
    }
  }
  return figures;
}

// Collective: what rank 0 finds, on every rank (as "name\tvalue" lines, values exact).
Scalars logged_evaluation(RunContext& run, const std::string& phase, int64_t step) {
  if (run.ranks().world_size() == 1) return logged_evaluation_on_rank0(run, phase, step);
  const std::string text = run.from_rank0([&] {
    std::string found;
    for (const auto& [name, value] : logged_evaluation_on_rank0(run, phase, step)) found += fmt::format("{}\t{:.17g}\n", name, value);
    return found;
  });
  Scalars figures;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t tab = line.find('\t');
    figures.emplace_back(line.substr(0, tab), std::stod(line.substr(tab + 1)));
  }
  return figures;
}

}  // namespace

PhaseReport run_phase(RunContext& run, const TrainPhase& phase, int64_t until_step) {
  const TrainingOptions& options = *phase.options;
  const bool early_stopping = options.early_stop_evals > 0;
  if (early_stopping && (!phase.evaluate || phase.best_metric.empty())) {
    throw Error(phase.name + "_train.early_stop_evals = " + std::to_string(options.early_stop_evals) +
                " needs held-out evaluations, and the " + phase.name + " phase has none here");
  }
  RunContext::BestEvaluation& best = run.best_evaluation(phase.name);
  if (best.stopped) return PhaseReport{.evaluation = best.figures};  // stopped early before: over
  const int64_t first = phase.step();
  // Already there (a finished run resumed): its final evaluation and checkpoint exist, as the
  // checkpoint of a last step is written only after its evaluation (below). Its figures are
  // reported from metrics.jsonl, not measured again.
  if (first >= until_step) return PhaseReport{.evaluation = logged_evaluation(run, phase.name, first)};
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  PhaseReport report;
  int64_t evaluated_at = -1, saved_at = -1;
  std::filesystem::path saved_path;  // of the checkpoint at saved_at (empty on ranks that do not write)
  auto save = [&] {
    if (saved_at == phase.step()) return;
    saved_path = save_phase(run, phase);
    saved_at = phase.step();
  };
  auto evaluate = [&] {
    // Combined over the ranks, so every rank takes the same early-stopping decisions.
    report.evaluation = combine_figures(run.ranks(), phase.evaluate());
    if (!report.evaluation.empty()) run.write_combined_metrics(phase.step(), report.evaluation);
    evaluated_at = phase.step();
    if (!early_stopping) return;
    const std::optional<double> value = find_scalar(report.evaluation, phase.best_metric);
    if (!value) throw Error(phase.name + ": early stopping watches " + phase.best_metric + ", which the evaluation did not report");
    if (best.step < 0 || (phase.best_is_highest ? *value > best.value : *value < best.value)) {
      best.step = phase.step();
      best.value = *value;
      best.figures = report.evaluation;
      best.evaluations_since = 0;
      save();
      best.checkpoint = saved_path;
      run.protect_checkpoint(phase.name, best.checkpoint);
    } else if (++best.evaluations_since >= options.early_stop_evals) {
      best.stopped = true;
      spdlog::info("{}: stopping early at step {}: {} evaluations without beating step {}'s {} {:.4f}", phase.name, phase.step(),
                   best.evaluations_since, best.step, phase.best_metric, best.value);
    }
  };
  // Rank 0's clock decides for every rank: ranks that disagreed on the last step would wait in
  // different collectives.
  bool timed_out = false;
  auto out_of_time = [&] {
    if (options.time_budget_s <= 0 || timed_out) return timed_out;
    timed_out = run.from_rank0([&] { return std::string(seconds() >= options.time_budget_s ? "1" : "0"); }) == "1";
    return timed_out;
  };
  {
    std::unique_ptr<ProgressBar> progress;
    if (run.writes()) progress = std::make_unique<ProgressBar>(phase.name, until_step - first, "step");
    while (phase.step() < until_step && !out_of_time() && !best.stopped) {
      // Combined every step: a loss that is not finite on one rank stops every rank at once.
      Scalars scalars = combine_figures(run.ranks(), phase.train_step());
      if (progress) progress->advance();
      const int64_t step = phase.step();
      stop_on_non_finite_loss(run, phase, scalars, step);
      if (step % run.log().every_steps == 0) run.write_combined_metrics(step, std::move(scalars));
      if (phase.evaluate && step % options.eval_every == 0) evaluate();
      // The last step's checkpoint comes after its final evaluation, below: a run killed in
      // between resumes to evaluate it, never to a checkpoint without its evaluation.
      if (step % run.checkpoint_options().every_steps == 0 && step < until_step) save();
    }
  }
  if (phase.evaluate && evaluated_at != phase.step()) evaluate();
  save();
  report.steps = phase.step() - first;
  report.seconds = seconds();
  const bool phase_over = best.stopped || phase.step() >= options.steps || timed_out;
  if (early_stopping && phase_over && best.step >= 0 && best.step != phase.step() && !best.checkpoint.empty()) {
    end_on_best(run, phase, best);
    report.evaluation = best.figures;
  }
  return report;
}

}  // namespace wm::core
