// wm collect --config C [--steps N] [--policy random|expert]: experience from the configured
// environment into <run>/episodes (the episode store), with a progress bar.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <memory>
#include <numeric>

#include "core/error.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/progress.h"
#include "core/run_dir.h"
#include "dataloader/episode_recorder.h"
#include "envs/driving_env.h"
#include "envs/driving_expert.h"
#include "tools/commands.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

struct CollectArgs {
  std::string config_file;
  std::vector<std::string> overrides;
  int64_t steps = -1;   // -1: take collect.steps from the config
  std::string policy;   // empty: take collect.policy from the config
};

// Chooses the actions of all environment slots; the expert reads the game's state.
class CollectPolicy {
 public:
  CollectPolicy(const std::string& name, envs::VectorEnv& env, uint64_t seed) : name_(name), env_(env) {
    if (name == "random") {
      for (int64_t i = 0; i < env.size(); ++i) random_.emplace_back(env.action_space(), seed + static_cast<uint64_t>(i));
    } else if (name == "expert") {
      threaded_ = dynamic_cast<envs::ThreadedVectorEnv*>(&env);
      if (threaded_ == nullptr || dynamic_cast<envs::DrivingEnv*>(&threaded_->env(0)) == nullptr) {
        throw core::Error("collect.policy 'expert' exists for the driving game only, not for '" + env.name() + "'");
      }
      experts_.assign(static_cast<size_t>(env.size()), envs::DrivingExpert(!env.action_space().is_discrete()));
    } else {
      throw core::Error("collect.policy '" + name +
                        "': expected random or expert (acting from a policy checkpoint arrives with the policy trainer)");
    }
  }

  std::vector<envs::Action> act() {
    std::vector<envs::Action> actions;
    for (int64_t i = 0; i < env_.size(); ++i) {
      if (name_ == "random") actions.push_back(random_[i].act());
      else actions.push_back(experts_[i].act(static_cast<const envs::DrivingEnv&>(threaded_->env(i))));
    }
    return actions;
  }
  void episode_ended(int64_t slot) {
    if (!experts_.empty()) experts_[slot].reset();
  }

 private:
  std::string name_;
  envs::VectorEnv& env_;
  envs::ThreadedVectorEnv* threaded_ = nullptr;
  std::vector<envs::RandomPolicy> random_;
  std::vector<envs::DrivingExpert> experts_;
};

void run_collect(const CollectArgs& args) {
  LoadedConfig loaded = load_wm_config(args.config_file, args.overrides);
  WmConfig& config = loaded.config;
  if (args.steps >= 0) config.collect.steps = args.steps;
  if (!args.policy.empty()) config.collect.policy = args.policy;

  core::RunDir run(config.run);
  run.write_config(loaded.yaml);
  core::init_logging(config.log, run.logs(), /*rank=*/0);
  core::configure_threads(config.run.threads, /*local_world_size=*/1);

  auto env = envs::make_vector_env(config.env);
  dataloader::EpisodeStore store(run.root() / "episodes", dataloader::EpisodeStore::Mode::kAppend);
  // Seeds continue where earlier collections into the same store stopped.
  const uint64_t base_seed = static_cast<uint64_t>(config.run.seed) * 1000003u + static_cast<uint64_t>(store.num_episodes()) * 7919u;
  CollectPolicy policy(config.collect.policy, *env, base_seed);
  dataloader::EpisodeRecorder recorder(store, *env);
  core::MetricsWriter metrics(run.root(), config.log.tensorboard);

  spdlog::info("collecting {} steps from {} ({} envs, {}) with the {} policy into {}", config.collect.steps, env->name(),
               env->size(), env->action_space().describe(), config.collect.policy, store.dir().string());
  const int64_t bytes = env->frame_spec().bytes();
  std::vector<uint8_t> frames(static_cast<size_t>(env->size() * bytes)), before(frames.size());
  std::vector<envs::StepResult> results;
  env->reset(base_seed, frames.data());

  core::ProgressBar progress("collect", config.collect.steps, "step");
  int64_t steps = 0;
  const auto start = std::chrono::steady_clock::now();
  while (steps < config.collect.steps) {
    const std::vector<envs::Action> actions = policy.act();
    before = frames;
    env->step(actions, frames.data(), results);
    const size_t finished_before = recorder.returns().size();
    recorder.record(before.data(), actions, results);
    for (size_t k = finished_before; k < recorder.returns().size(); ++k) {
      metrics.write(steps, {{"collect/episode_return", recorder.returns()[k]}});
    }
    for (int64_t i = 0; i < env->size(); ++i) {
      if (results[i].done()) policy.episode_ended(i);
    }
    steps += env->size();
    progress.advance(env->size());
  }
  progress.finish();

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& returns = recorder.returns();
  const double mean = returns.empty() ? 0.0 : std::accumulate(returns.begin(), returns.end(), 0.0) / returns.size();
  spdlog::info("{} episodes completed (mean return {:.2f}), {:.0f} steps/s; the store holds {} episodes, {} steps; "
               "unfinished episodes at the end were not stored",
               returns.size(), mean, static_cast<double>(steps) / seconds, store.num_episodes(), store.total_steps());
}

}  // namespace

void add_collect_command(CLI::App& app) {
  auto args = std::make_shared<CollectArgs>();
  CLI::App* collect = app.add_subcommand("collect", "Run a policy in the environment and store the episodes");
  collect->add_option("--config,-c", args->config_file, "YAML config file");
  collect->add_option("--steps", args->steps, "environment steps to take (all envs together)")->check(CLI::NonNegativeNumber);
  collect->add_option("--policy", args->policy, "random|expert");
  collect->add_option("overrides", args->overrides, "key.path=value overrides");
  collect->callback([args] { run_collect(*args); });
}

}  // namespace wm::tools
