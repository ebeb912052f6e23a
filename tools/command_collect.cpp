// wm collect --config C [--steps N] [--policy random|expert|CKPT]: experience from the configured
// environment into <run>/episodes (the episode store), with a progress bar.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>
#include <numeric>

#include "core/error.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/run_dir.h"
#include "tools/agents.h"
#include "tools/collect_episodes.h"
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
  run.write_config(loaded.yaml, "collect");
  core::init_logging(config.log, run.logs(), /*rank=*/0);
  core::configure_threads(config.run.threads, /*local_world_size=*/1);

  auto env = envs::make_vector_env(config.env);
  dataloader::EpisodeStore store(run.root() / "episodes", dataloader::EpisodeStore::Mode::kAppend);
  const uint64_t seed = collection_seed(config.run.seed, store);
  const std::unique_ptr<envs::Agent> agent = make_agent(config.collect.policy, *env, seed, "collect.policy", core::resolve_device(config.run.device));
  core::MetricsWriter metrics(run.root(), config.log.tensorboard);

  spdlog::info("collecting {} steps from {} ({} envs, {}) with the {} policy into {}", config.collect.steps, env->name(),
               env->size(), env->action_space().describe(), agent->name(), store.dir().string());
  const CollectReport report = collect_episodes(*env, *agent, store, config.collect.steps, seed, [&](int64_t steps, double episode_return) {
    metrics.write(steps, {{"collect/episode_return", episode_return}});
  });
  const auto& returns = report.returns;
  const double mean = envs::summarize_returns(returns).mean;
  spdlog::info("{} episodes completed (mean return {:.2f}), {:.0f} steps/s; the store holds {} episodes, {} steps; "
               "unfinished episodes at the end were not stored",
               returns.size(), mean, static_cast<double>(report.steps) / report.seconds, store.num_episodes(), store.total_steps());
}

}  // namespace

void add_collect_command(CLI::App& app) {
  auto args = std::make_shared<CollectArgs>();
  CLI::App* collect = app.add_subcommand("collect", "Run a policy in the environment and store the episodes");
  collect->add_option("--config,-c", args->config_file, "YAML config file");
  collect->add_option("--steps", args->steps, "environment steps to take (all envs together)")->check(CLI::Validator(
          [](std::string& text) { return text.find('-') == std::string::npos ? std::string() : "must be 0 or more, got " + text; }, "N >= 0"));
  collect->add_option("--policy", args->policy, "random, expert, or a policy checkpoint (a file, or a run folder with one)");
  collect->add_option("overrides", args->overrides, "key.path=value overrides");
  collect->callback([args] { run_collect(*args); });
}

}  // namespace wm::tools
