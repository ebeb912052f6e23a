#include "tools/train_all.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/seed_mix.h"
#include "core/train_loop.h"
#include "dataloader/window_sampler.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/token_baselines.h"
#include "envs/agent.h"
#include "envs/env_options.h"
#include "policy/policy_agent.h"
#include "policy/policy_trainer.h"
#include "tokenizer/tokenizer_trainer.h"
#include "tools/agents.h"
#include "tools/collect_episodes.h"
#include "tools/dream_report.h"
#include "tools/dream_strip.h"
#include "tools/dynamics_data.h"
#include "tools/tokenizer_data.h"
#include "tools/training_run.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

// Where the loop stands: the epoch under way, which of its phases are done, and which
// components have trained at all (an epoch without a finished episode trains nothing).
struct LoopState {
  int64_t epoch = 1;
  std::vector<std::string> done;
  std::vector<std::string> trained;

  bool has(const std::string& phase) const { return std::find(done.begin(), done.end(), phase) != done.end(); }
  bool has_trained(const std::string& phase) const { return std::find(trained.begin(), trained.end(), phase) != trained.end(); }

  // The state in `text`, as read from `path`.
  static LoopState parse(const std::string& text, const std::filesystem::path& path, const LoopOptions& loop) {
    try {
      const auto j = nlohmann::json::parse(text);
      LoopState s;
      s.epoch = j.at("epoch").get<int64_t>();
      s.done = j.at("done").get<std::vector<std::string>>();
      if (j.contains("trained")) {
        s.trained = j.at("trained").get<std::vector<std::string>>();
      } else {
        // A state written before "trained" existed: the tokenizer and dynamics model had trained
        // once an epoch was past or their phase done, the policy as the state said.
        for (const auto& [phase, start] : {std::pair<const char*, int64_t>{"tokenizer", loop.tokenizer_start}, {"dynamics", loop.dynamics_start}}) {
          if (s.epoch > start || s.has(phase)) s.trained.emplace_back(phase);
        }
        if (j.value("policy_trained", false)) s.trained.emplace_back("policy");
      }
      return s;
    } catch (const nlohmann::json::exception& e) {
      throw core::Error(path.string() + " is not a loop state (" + e.what() + "): delete it to start the loop over");
    }
  }
  void save(const std::filesystem::path& path) const {
    core::write_file_atomic(path, nlohmann::json{{"epoch", epoch}, {"done", done}, {"trained", trained}}.dump() + "\n");
  }
};

}  // namespace

void train_all(const std::string& config_file, const std::vector<std::string>& overrides) {
  const LoadedConfig loaded = load_wm_config(config_file, overrides);
  WmConfig config = loaded.config;
  const LoopOptions& loop = config.loop;
  loop.validate();
  // Each trainer's learning-rate schedule spans the epochs it trains in; the loop, not a
  // phase's time budget, decides when a phase stops.
  auto span = [&](int64_t per_epoch, int64_t start) { return per_epoch * std::max<int64_t>(1, loop.epochs - start + 1); };
  config.tokenizer_train.steps = span(loop.tokenizer_steps, loop.tokenizer_start);
  config.dynamics_train.steps = span(loop.dynamics_steps, loop.dynamics_start);
  config.policy_train.steps = span(loop.policy_steps, loop.policy_start);
  config.tokenizer_train.time_budget_s = config.dynamics_train.time_budget_s = config.policy_train.time_budget_s = 0;
  // Early stopping would end a phase for good on one epoch's data, while the store grows.
  for (const auto& [section, options] : {std::pair<const char*, const core::TrainingOptions*>{"tokenizer_train", &config.tokenizer_train},
                                         {"dynamics_train", &config.dynamics_train}, {"policy_train", &config.policy_train}}) {
    if (options->early_stop_evals > 0) {
      throw core::Error(std::string(section) + ".early_stop_evals = " + std::to_string(options->early_stop_evals) +
                        ": wm train all decides when its phases stop (their data grows every epoch); early stopping is for wm train "
                        "tokenizer and wm train dynamics");
    }
  }

  core::RunContext run = open_training_run(config, loaded.yaml);
  core::Ranks& ranks = run.ranks();
  const c10::Device device = training_device(config);
  const std::filesystem::path root = run.dir().root();
  // The loop learns from what it collects. Data parallel, each rank collects its share of the
  // job's real steps into a store of its own and samples its batches from it (the gradients
  // are averaged, the data stays where it was collected); rank 0's store is the run's
  // episodes/, which wm dream and the reports read.
  const std::filesystem::path episodes = run.writes() ? root / "episodes" : root / ("episodes_rank" + std::to_string(run.rank()));
  config.data.path = episodes.string();
  const int64_t collect_steps = (loop.collect_steps + ranks.world_size() - 1) / ranks.world_size();

  // The environment fixes the frames and the actions every component works with.
  auto env = envs::make_vector_env(config.env);
  if (env->frame_spec().height != config.tokenizer.height || env->frame_spec().width != config.tokenizer.width) {
    throw core::Error("env frames are " + std::to_string(env->frame_spec().height) + "x" + std::to_string(env->frame_spec().width) +
                      " but tokenizer.height/width say " + std::to_string(config.tokenizer.height) + "x" + std::to_string(config.tokenizer.width));
  }
  const envs::ActionSpace& actions = env->action_space();
  dataloader::EpisodeStore store(episodes, dataloader::EpisodeStore::Mode::kAppend);
  // Collective: the job's figures of its stores (metrics lines are numbered by the job's real
  // steps).
  auto job_sum = [&](int64_t mine) {
    at::Tensor t = torch::tensor({static_cast<double>(mine)}, torch::kFloat64);
    ranks.sum(t);
    return static_cast<int64_t>(t.item<double>());
  };
  auto job_steps = [&] { return job_sum(store.total_steps()); };

  tokenizer::TokenizerTrainer tokenizer(tokenizer::VQModel(config.tokenizer), config.tokenizer_train, device, config.run.precision);
  config.dynamics.tokens_per_frame = config.tokenizer.tokens_per_frame();
  config.dynamics.grid_height = config.tokenizer.grid_height();
  config.dynamics.grid_width = config.tokenizer.grid_width();
  config.dynamics.vocab_size = config.tokenizer.vocab_size;
  config.dynamics.num_actions = actions.is_discrete() ? actions.n : 0;
  config.dynamics.action_dim = actions.is_discrete() ? 0 : actions.dim;
  dynamics::DynamicsTrainer dynamics(dynamics::WorldModel(config.dynamics), config.dynamics_train, device, config.run.precision);
  policy::PolicyInputs inputs(tokenizer.model(), config.policy.input);
  inputs.fit(config.policy);
  config.policy.num_actions = actions.is_discrete() ? actions.n : 0;
  config.policy.action_low.assign(actions.low.begin(), actions.low.end());
  config.policy.action_high.assign(actions.high.begin(), actions.high.end());
  policy::PolicyTrainer policy(policy::ActorCritic(config.policy), policy::dreaming_model(dynamics.model(), config.policy_train.dream_precision, device),
                               inputs, config.policy_train, device);
  // Each rank dreams with draws of its own (rank 0 of a job, or one process, from run.seed).
  policy.set_dream_seed(run.writes() ? static_cast<uint64_t>(config.run.seed) : core::seed_for(static_cast<uint64_t>(config.run.seed), static_cast<uint64_t>(run.rank())));
  core::ConfigSchema schema;
  describe(schema, config);
  run.set_config_yaml(core::config_to_yaml(schema));
  run.write_config(run.config_yaml(), "train_all");

  // Each epoch's data: the store as it now is.
  std::unique_ptr<TokenizerData> frames;
  std::unique_ptr<DynamicsData> windows;
  std::unique_ptr<dataloader::PrefetchingSampler> batches;
  std::vector<dynamics::DynamicsBatch> holdout;
  core::TrainPhase tokenizer_phase{
      .name = "tokenizer",
      .options = &config.tokenizer_train,
      .step = [&] { return tokenizer.step(); },
      .train_step = [&] { return tokenizer.train_step(frames_of(batches->next())); },
      .evaluate =
          [&] { return evaluate_tokenizer(tokenizer, *frames); },
      .best_metric = "tokenizer/holdout_psnr_db",
      .best_is_highest = true,
      .save = [&](core::CheckpointWriter& writer) { tokenizer.save(writer); },
      .restore = [&](const core::Checkpoint& checkpoint) { tokenizer.restore(checkpoint); }};
  core::TrainPhase dynamics_phase{.name = "dynamics",
                                  .options = &config.dynamics_train,
                                  .step = [&] { return dynamics.step(); },
                                  .train_step = [&] { return dynamics.train_step(windows->to_batch(batches->next())); },
                                  .evaluate = [&] { return holdout.empty() ? core::Scalars{} : dynamics.evaluate(holdout); },
                                  .best_metric = "dynamics/holdout_next_frame_bits",
                                  .save = [&](core::CheckpointWriter& writer) { dynamics.save(writer); },
                                  .restore = [&](const core::Checkpoint& checkpoint) { dynamics.restore(checkpoint); }};
  core::TrainPhase policy_phase{.name = "policy",
                                .options = &config.policy_train,
                                .step = [&] { return policy.step(); },
                                .train_step = [&] { return policy.train_step(windows->to_batch(batches->next())); },
                                .evaluate = {},
                                .save = [&](core::CheckpointWriter& writer) { policy.save(writer); },
                                .restore = [&](const core::Checkpoint& checkpoint) { policy.restore(checkpoint); }};

  // Resume: the loop's state, and each component from its newest valid checkpoint.
  const std::filesystem::path state_path = root / "loop_state.json";
  LoopState state;
  auto save_state = [&] {
    run.from_rank0([&] {
      state.save(state_path);
      return std::string();
    });
  };
  // Rank 0's state, on every rank.
  const std::string stored_state = run.from_rank0([&] { return std::filesystem::exists(state_path) ? core::read_file(state_path) : std::string(); });
  if (!stored_state.empty()) {
    state = LoopState::parse(stored_state, state_path, loop);
    // A component that has trained must come back from a checkpoint: carrying on from
    // scratch would pass an untrained model off as a trained one.
    for (const core::TrainPhase* phase : {&tokenizer_phase, &dynamics_phase, &policy_phase}) {
      if (!core::resume_phase(run, *phase) && state.has_trained(phase->name)) {
        throw core::Error("the loop state " + state_path.string() + " says the " + phase->name + " has trained, but " +
                          run.dir().checkpoints().string() + " holds no valid " + phase->name + " checkpoint: delete the state to start over");
      }
    }
    spdlog::info("resuming the loop at epoch {} (done in it: {})", state.epoch, state.done.empty() ? "nothing" : nlohmann::json(state.done).dump());
  }
  tokenizer.share_across(run.shared_ranks());
  dynamics.share_across(run.shared_ranks());
  policy.share_across(run.shared_ranks());
  // Wall-clock seconds by phase: this epoch's (each phase's time runs from the previous mark)
  // and the whole run's (of this process).
  std::vector<std::pair<std::string, double>> epoch_seconds, total_seconds;
  auto phase_clock = std::chrono::steady_clock::now();
  auto add_seconds = [](std::vector<std::pair<std::string, double>>& table, const std::string& phase, double seconds) {
    for (auto& [name, value] : table) {
      if (name == phase) return void(value += seconds);
    }
    table.emplace_back(phase, seconds);
  };
  auto describe_seconds = [](const std::vector<std::pair<std::string, double>>& table) {
    std::string text;
    for (const auto& [name, value] : table) text += fmt::format("{}{} {:.0f} s", text.empty() ? "" : ", ", name, value);
    return text;
  };
  auto mark = [&](const std::string& phase) {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - phase_clock).count();
    phase_clock = now;
    add_seconds(epoch_seconds, phase, seconds);
    add_seconds(total_seconds, phase, seconds);
    run.write_metrics(job_steps(), {{"loop/seconds_" + phase, seconds}});
    state.done.push_back(phase);
    if (phase != "collect" && phase != "eval" && !state.has_trained(phase)) state.trained.push_back(phase);
    save_state();
  };
  const uint64_t eval_seed = static_cast<uint64_t>(config.run.seed) * 7919u + 1000003u;
  // The policy's draws from `seed`: an evaluation is the same whenever it runs (a resumed
  // run's included).
  auto policy_agent = [&](uint64_t seed) {
    tokenizer.model()->eval();
    torch::manual_seed(seed);
    return std::make_unique<policy::PolicyAgent>(policy.policy(), policy.inputs(), env->size());
  };
  // Each phase's windows from its own seed, the data cursor at its step: no two epochs
  // replay the same batches, and a resumed phase draws the batches it would have drawn.
  auto reseeded = [&](dataloader::WindowSamplerOptions options, uint64_t phase) {
    options.seed = static_cast<uint64_t>(config.run.seed) * 1000003u + phase * 7919u;
    return options;
  };

  spdlog::info("the loop: {} epochs on {} ({} envs, {}); per epoch {} real steps, tokenizer {} / dynamics {} / policy {} steps (from "
               "epochs {} / {} / {}), evaluation every {} epochs",
               loop.epochs, env->name(), env->size(), actions.describe(), loop.collect_steps, loop.tokenizer_steps, loop.dynamics_steps,
               loop.policy_steps, loop.tokenizer_start, loop.dynamics_start, loop.policy_start, loop.eval_every);
  // The environments keep running from epoch to epoch: an episode longer than an epoch's
  // collection is stored once it ends (a resumed run starts them afresh). Evaluations play in
  // environments of their own, so they never reset an episode the collector is in.
  std::unique_ptr<Collector> collector;
  std::unique_ptr<envs::VectorEnv> eval_env;
  auto evaluation_env = [&]() -> envs::VectorEnv& {
    if (!eval_env) eval_env = envs::make_vector_env(config.env);
    return *eval_env;
  };
  for (; state.epoch <= loop.epochs; state.epoch += 1, state.done.clear(), save_state()) {
    const int64_t e = state.epoch;
    epoch_seconds.clear();
    phase_clock = std::chrono::steady_clock::now();
    std::string summary = "epoch " + std::to_string(e) + "/" + std::to_string(loop.epochs) + ":";
    if (!state.has("collect") && loop.collect_steps > 0) {
      const uint64_t seed = run.writes() ? collection_seed(config.run.seed, store)
                                         : core::seed_for(collection_seed(config.run.seed, store), static_cast<uint64_t>(run.rank()));
      std::unique_ptr<envs::Agent> agent;
      if (state.has_trained("policy")) {
        agent = policy_agent(seed);
      } else {
        agent = make_agent(loop.first_agent, *env, seed, "loop.first_agent");
        if (loop.first_agent_epsilon > 0) agent = std::make_unique<envs::ExploringAgent>(std::move(agent), actions, env->size(), loop.first_agent_epsilon, seed,
                                                                                  loop.first_agent_hold);
      }
      if (!collector) collector = std::make_unique<Collector>(*env, store, seed);
      const CollectReport report = collector->collect(*agent, collect_steps, {}, run.writes());
      policy.policy()->train();
      // Every rank's finished episodes, one metrics line each (rank 0 writes them).
      std::string mine;
      for (const double episode_return : report.returns) mine += fmt::format("{:.17g}\n", episode_return);
      std::vector<double> returns;
      for (const std::string& text : ranks.all_gather_text("collect_returns_" + std::to_string(e), mine)) {
        std::istringstream lines(text);
        for (std::string line; std::getline(lines, line);) returns.push_back(std::stod(line));
      }
      const int64_t steps_now = job_steps();
      for (const double episode_return : returns) run.write_combined_metrics(steps_now, {{"collect/episode_return", episode_return}});
      const envs::ReturnStats r = envs::summarize_returns(returns);
      spdlog::info("epoch {}: {} played {} steps and finished {} episodes (return {:.1f} +- {:.1f}); the store holds {} steps of finished episodes",
                   e, agent->name(), job_sum(report.steps), returns.size(), r.mean, r.std, steps_now);
      mark("collect");
    }
    if (job_sum(store.num_episodes() == 0 ? 1 : 0) > 0) {
      // Nothing to learn from before the first episode has ended (Atari's last thousands of
      // steps; on every rank, as each learns from its own store): collect on.
      spdlog::info("epoch {}: no episode has ended yet{}; collecting on before training", e, ranks.world_size() > 1 ? " on every rank" : "");
      spdlog::info("{} ({} real steps, {:.0f} s so far)", summary, job_steps(), run.elapsed_s());
      continue;
    }
    if (e >= loop.tokenizer_start && !state.has("tokenizer")) {
      frames = std::make_unique<TokenizerData>(config, root);
      batches = phase_batches(run, frames->train_part(), reseeded(frames->sampling(config.tokenizer_train.batch_size), 1), tokenizer.step(), /*depth=*/2);
      tokenizer.model()->train();
      const core::PhaseReport report = core::run_phase(run, tokenizer_phase, (e - loop.tokenizer_start + 1) * loop.tokenizer_steps);
      batches.reset();
      if (const auto psnr = core::find_scalar(report.evaluation, "tokenizer/holdout_psnr_db")) {
        summary += fmt::format(" tokenizer {:.1f} dB (mean frame {:.1f})", *psnr,
                               core::find_scalar(report.evaluation, "tokenizer/holdout_mean_frame_psnr_db").value_or(0));
      }
      mark("tokenizer");
    }
    tokenizer.model()->eval();
    if (e >= loop.dynamics_start && (!state.has("dynamics") || !state.has("policy"))) {
      windows = std::make_unique<DynamicsData>(config, root, tokenizer.model());
    }
    if (e >= loop.dynamics_start && !state.has("dynamics")) {
      holdout = windows->holdout_batches(config.dynamics_train.eval_batches, config.dynamics_train.batch_size);
      batches = phase_batches(run, windows->train_part(), reseeded(windows->sampling(config.dynamics_train.batch_size), 2), dynamics.step(), /*depth=*/2);
      const core::PhaseReport report = core::run_phase(run, dynamics_phase, (e - loop.dynamics_start + 1) * loop.dynamics_steps);
      batches.reset();
      if (const auto bits = core::find_scalar(report.evaluation, "dynamics/holdout_next_frame_bits")) {
        // The figures to beat on the same held-out tokens, beside the model's (and in the
        // dream report's bits/token chart).
        const dynamics::TokenBaselines b =
            windows->fit_baselines(std::max<int64_t>(16, config.dynamics_train.eval_batches), config.dynamics_train.batch_size).evaluate(holdout);
        run.write_metrics(dynamics.step(), b.scalars());
        summary += fmt::format(", dynamics {:.2f} bits/token (copy {:.2f})", *bits, b.copy_bits);
      }
      if (const auto changed = core::find_scalar(report.evaluation, "dynamics/holdout_next_frame_changed_bits")) {
        summary += fmt::format(" ({:.2f} on the {:.0f}% that changed)", *changed,
                               100 * core::find_scalar(report.evaluation, "dynamics/holdout_next_frame_changed_share").value_or(0));
      }
      mark("dynamics");
    }
    if (e >= loop.policy_start && !state.has("policy")) {
      policy.set_world_model(policy::dreaming_model(dynamics.model(), config.policy_train.dream_precision, device));
      dataloader::WindowSamplerOptions starts = windows->sampling(config.policy_train.batch_size, config.policy_train.context);
      starts.pad_before_start = false;
      batches = phase_batches(run, windows->train_part(), reseeded(starts, 3), policy.step(), /*depth=*/2);
      core::run_phase(run, policy_phase, (e - loop.policy_start + 1) * loop.policy_steps);
      batches.reset();
      mark("policy");
    }
    if ((e % loop.eval_every == 0 || e == loop.epochs) && state.has_trained("policy") && loop.eval_episodes > 0 && !state.has("eval")) {
      // Rank 0 plays the evaluation episodes; every rank learns the figures.
      const std::string figures = run.from_rank0([&] {
        const auto agent = policy_agent(eval_seed);
        const envs::ReturnStats played = envs::summarize_returns(envs::play_episodes(*agent, evaluation_env(), loop.eval_episodes, eval_seed));
        policy.policy()->train();
        return fmt::format("{:.17g} {:.17g}", played.mean, played.std);
      });
      envs::ReturnStats r;
      std::istringstream(figures) >> r.mean >> r.std;
      run.write_metrics(job_steps(), {{"loop/eval_return_mean", r.mean}, {"loop/eval_return_std", r.std}, {"loop/epoch", static_cast<double>(e)}});
      summary += fmt::format(", real return {:.1f} +- {:.1f}", r.mean, r.std);
      mark("eval");
    }
    spdlog::info("{} ({} real steps, {:.0f} s so far; {})", summary, job_steps(), run.elapsed_s(), describe_seconds(epoch_seconds));
  }
  const int64_t real_steps = job_steps();
  if (!run.writes()) {
    spdlog::info("the loop is done; rank 0 writes the strip, the table and the dream report");
    return;
  }

  // A strip of real and dreamed frames: a held-out window against the world model's dream
  // from its first frames under the same actions.
  if (dynamics.step() > 0) {
    tokenizer.model()->eval();
    if (!windows) windows = std::make_unique<DynamicsData>(config, root, tokenizer.model());
    dataloader::WindowSamplerOptions one = windows->sampling(1);
    one.pad_before_start = false;
    one.seed = eval_seed;
    const auto& part = windows->holdout_part()->num_episodes() > 0 ? windows->holdout_part() : windows->train_part();
    const std::filesystem::path png = root / "dreams" / "strip.png";
    const int64_t context = std::min<int64_t>(config.policy_train.context, config.dynamics.context_steps - 1);
    write_dream_strip(png, dynamics.model(), tokenizer.model(), windows->to_batch(dataloader::WindowSampler(part, one).sample()), context);
    spdlog::info("real frames (top) and the world model's dream from the first {} of them under the same actions (bottom): {}", context,
                 png.string());
  }

  // The final table: the trained policy against random (and the expert where there is one).
  const int64_t final_episodes = loop.final_episodes;
  std::vector<std::pair<std::string, envs::ReturnStats>> table;
  envs::VectorEnv& judge = evaluation_env();
  if (state.has_trained("policy")) table.emplace_back("trained policy", envs::summarize_returns(envs::play_episodes(*policy_agent(eval_seed), judge, final_episodes, eval_seed)));
  envs::RandomAgent random(actions, judge.size(), eval_seed);
  table.emplace_back("random", envs::summarize_returns(envs::play_episodes(random, judge, final_episodes, eval_seed)));
  if (envs::is_builtin_env(config.env.id)) {
    envs::DrivingExpertAgent expert(judge);
    table.emplace_back("expert (scripted)", envs::summarize_returns(envs::play_episodes(expert, judge, final_episodes, eval_seed)));
  }
  spdlog::info("done after {} epochs, {} real environment steps, {:.0f} s ({}); returns over {} episodes:", loop.epochs, real_steps,
               run.elapsed_s(), describe_seconds(total_seconds), final_episodes);
  for (const auto& [name, r] : table) spdlog::info("  {:<18} {:8.1f} +- {:.1f}", name, r.mean, r.std);

  // The dream report (wm dream): held-out real driving beside the final world model's dreams
  // under the same actions, the drift curve and the run's training curves in one page. A
  // store too short for it costs the report, not the run.
  if (dynamics.step() > 0) {
    DreamOptions dream{.run = root, .out = root / "dreams"};
    dream.context = std::min<int64_t>(config.policy_train.context, config.dynamics.context_steps - 1);
    try {
      const DreamReport report = write_dream_report(dream);
      spdlog::info("the dream report: {} ({} dreamed frames, {:.1f} s)", (report.out / "report.html").string(), report.dreamed_frames, report.seconds_total);
    } catch (const core::Error& e) {
      spdlog::warn("no dream report: {}", e.what());
    }
  }
}

}  // namespace wm::tools
