// wm collect --config C [--steps N] [--policy random|expert|CKPT]: experience from the configured
// environment into <run>/episodes (the episode store), with a progress bar.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <numeric>

#include "core/error.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/progress.h"
#include "core/run_dir.h"
#include "dataloader/episode_recorder.h"
#include "tools/agents.h"
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
  const std::unique_ptr<envs::Agent> agent = make_agent(config.collect.policy, *env, base_seed, "collect.policy", core::resolve_device(config.run.device));
  dataloader::EpisodeRecorder recorder(store, *env);
  core::MetricsWriter metrics(run.root(), config.log.tensorboard);

  spdlog::info("collecting {} steps from {} ({} envs, {}) with the {} policy into {}", config.collect.steps, env->name(),
               env->size(), env->action_space().describe(), agent->name(), store.dir().string());
  const int64_t bytes = env->frame_spec().bytes();
  std::vector<uint8_t> frames(static_cast<size_t>(env->size() * bytes)), before(frames.size());
  const envs::FrameSpec spec = env->frame_spec();
  const torch::Tensor frames_view = torch::from_blob(frames.data(), {env->size(), spec.height, spec.width, 3}, torch::kUInt8);
  std::vector<envs::StepResult> results;
  env->reset(base_seed, frames.data());

  core::ProgressBar progress("collect", config.collect.steps, "step");
  int64_t steps = 0;
  const auto start = std::chrono::steady_clock::now();
  while (steps < config.collect.steps) {
    const std::vector<envs::Action> actions = agent->act(frames_view);
    before = frames;
    env->step(actions, frames.data(), results);
    const size_t finished_before = recorder.returns().size();
    recorder.record(before.data(), actions, results);
    for (size_t k = finished_before; k < recorder.returns().size(); ++k) {
      metrics.write(steps, {{"collect/episode_return", recorder.returns()[k]}});
    }
    for (int64_t i = 0; i < env->size(); ++i) {
      if (results[i].done()) agent->episode_ended(i);
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
  collect->add_option("--policy", args->policy, "random, expert, or a policy checkpoint (a file, or a run folder with one)");
  collect->add_option("overrides", args->overrides, "key.path=value overrides");
  collect->callback([args] { run_collect(*args); });
}

}  // namespace wm::tools
