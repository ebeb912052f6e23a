// wm train <part>: the command line of the trainers (tools/train_<part>.h).
#include <CLI/CLI.hpp>

#include <memory>

#include "tools/commands.h"
#include "tools/train_all.h"
#include "tools/train_dynamics.h"
#include "tools/train_model_free.h"
#include "tools/train_policy.h"
#include "tools/train_tokenizer.h"

namespace wm::tools {

namespace {

struct TrainArgs {
  std::string config_file;
  std::vector<std::string> overrides;
  bool resume = false;
};

}  // namespace

void add_train_command(CLI::App& app) {
  CLI::App* train = app.add_subcommand("train", "Train a component (tokenizer, dynamics, policy) or the whole loop (all)");
  train->require_subcommand(1);
  auto args = std::make_shared<TrainArgs>();
  CLI::App* tokenizer = train->add_subcommand("tokenizer", "Train the VQ tokenizer on frames");
  tokenizer->add_option("--config,-c", args->config_file, "YAML config file");
  tokenizer->add_flag("--resume", args->resume, "continue from the newest valid tokenizer checkpoint of the run");
  tokenizer->add_option("overrides", args->overrides, "key.path=value overrides");
  tokenizer->callback([args] { train_tokenizer(args->config_file, args->overrides, args->resume); });

  auto dynamics_args = std::make_shared<TrainArgs>();
  CLI::App* dynamics = train->add_subcommand("dynamics", "Train the dynamics model on token shards (or frames and a tokenizer)");
  dynamics->add_option("--config,-c", dynamics_args->config_file, "YAML config file");
  dynamics->add_flag("--resume", dynamics_args->resume, "continue from the newest valid dynamics checkpoint of the run");
  dynamics->add_option("overrides", dynamics_args->overrides, "key.path=value overrides");
  dynamics->callback([dynamics_args] { train_dynamics(dynamics_args->config_file, dynamics_args->overrides, dynamics_args->resume); });

  auto policy_args = std::make_shared<TrainArgs>();
  CLI::App* policy = train->add_subcommand("policy", "Train the policy inside the world model (imagination only)");
  policy->add_option("--config,-c", policy_args->config_file, "YAML config file");
  policy->add_flag("--resume", policy_args->resume, "continue from the newest valid policy checkpoint of the run");
  policy->add_option("overrides", policy_args->overrides, "key.path=value overrides");
  policy->callback([policy_args] { train_policy(policy_args->config_file, policy_args->overrides, policy_args->resume); });

  auto all_args = std::make_shared<TrainArgs>();
  auto model_free_args = std::make_shared<TrainArgs>();
  CLI::App* model_free = train->add_subcommand("modelfree", "The baseline: the same actor-critic trained on the real environment only (A2C on "
                                                            "pixels, model_free.real_steps steps), no world model");
  model_free->add_option("--config,-c", model_free_args->config_file, "YAML config file");
  model_free->add_flag("--resume", model_free_args->resume, "continue from the newest valid policy checkpoint of the run");
  model_free->add_option("overrides", model_free_args->overrides, "key.path=value overrides");
  model_free->callback([model_free_args] { train_model_free(model_free_args->config_file, model_free_args->overrides, model_free_args->resume); });

  CLI::App* all = train->add_subcommand("all", "The whole loop, epoch by epoch: collect, tokenizer, dynamics, policy in imagination, "
                                               "evaluation; the same command resumes after a kill");
  all->add_option("--config,-c", all_args->config_file, "YAML config file");
  all->add_option("overrides", all_args->overrides, "key.path=value overrides");
  all->callback([all_args] { train_all(all_args->config_file, all_args->overrides); });
}

}  // namespace wm::tools
