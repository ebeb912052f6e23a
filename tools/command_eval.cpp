// wm eval --run DIR [--episodes N] [--policy CKPT|random|expert] [--greedy] [--json]
// [key=value ...]: returns in the real environment of a run's config, mean +- std over N
// whole episodes, for the run's newest trained policy unless another agent is named.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <numeric>

#include "core/device.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/run_dir.h"
#include "envs/agent.h"
#include "tools/agents.h"
#include "tools/commands.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

struct EvalArgs {
  std::string run;
  int64_t episodes = 10;
  std::string policy;  // empty: the run's newest policy checkpoint
  bool greedy = false;
  bool json = false;
  uint64_t seed = 12345;
  std::vector<std::string> overrides;
};

void run_eval(const EvalArgs& args) {
  const std::filesystem::path run_dir(args.run);
  const std::filesystem::path config_file = run_dir / "config.yaml";
  if (!std::filesystem::is_regular_file(config_file)) throw core::Error(run_dir.string() + " is not a run folder: it has no config.yaml");
  const WmConfig config = load_wm_config(config_file, args.overrides).config;
  core::LogOptions log = config.log;
  log.tensorboard = false;
  core::init_logging(log, {}, /*rank=*/0);
  core::configure_threads(config.run.threads, /*local_world_size=*/1);
  const c10::Device device = core::resolve_device(config.run.device);

  auto env = envs::make_vector_env(config.env);
  const std::string name = args.policy.empty() ? run_dir.string() : args.policy;
  const std::unique_ptr<envs::Agent> agent = make_agent(name, *env, args.seed, "--policy", device, args.greedy);
  const std::vector<double> returns = envs::play_episodes(*agent, *env, args.episodes, args.seed);
  const auto [mean, std] = envs::summarize_returns(returns);
  if (args.json) {
    std::cout << nlohmann::ordered_json{{"agent", agent->name()}, {"source", name},   {"env", env->name()},
                                        {"episodes", args.episodes}, {"return_mean", mean}, {"return_std", std},
                                        {"returns", returns}}
                     .dump()
              << "\n";
  } else {
    std::cout << agent->name() << " (" << name << ") on " << env->name() << ": return " << mean << " +- " << std << " over " << args.episodes
              << " episodes\n";
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* eval = app.add_subcommand("eval", "Returns of a trained policy (or random / expert) in the real environment, mean +- std");
  eval->add_option("--run", args->run, "a run folder: its config.yaml gives the environment, its checkpoints the policy")->required();
  eval->add_option("--episodes", args->episodes, "whole episodes to play")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{100000}));
  eval->add_option("--policy", args->policy, "a policy checkpoint or run folder, random or expert (default: the run's policy)");
  eval->add_flag("--greedy", args->greedy, "the policy's most likely action instead of a draw");
  eval->add_option("--seed", args->seed, "seed of the episodes (and of the agent's draws)")->capture_default_str();
  eval->add_flag("--json", args->json, "one JSON object");
  eval->add_option("overrides", args->overrides, "key.path=value overrides of the run's config (e.g. env.max_steps=500)");
  eval->callback([args] { run_eval(*args); });
}

}  // namespace wm::tools
