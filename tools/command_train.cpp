// wm train <part>: the command line of the trainers (tools/train_<part>.h).
#include <CLI/CLI.hpp>

#include <memory>

#include "core/train_loop.h"
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
  bool overwrite = false;

  core::PhaseStart start() const {
    return resume ? core::PhaseStart::kResume : overwrite ? core::PhaseStart::kOverwrite : core::PhaseStart::kFresh;
  }
};

using PartTrainer = void (*)(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start);

// `wm train <name>`: one part's trainer, which continues (--resume) or replaces (--overwrite)
// the run's checkpoints of `kind`, and otherwise refuses to train beside them.
void add_part(CLI::App& train, const std::string& name, const std::string& description, const std::string& kind, PartTrainer trainer) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* part = train.add_subcommand(name, description);
  part->add_option("--config,-c", args->config_file, "YAML config file");
  CLI::Option* resume = part->add_flag("--resume", args->resume, "continue from the newest valid " + kind + " checkpoint of the run");
  part->add_flag("--overwrite", args->overwrite,
                 "start again in a run that holds " + kind + " checkpoints: they move to checkpoints/replaced_<time>/")
      ->excludes(resume);
  part->add_option("overrides", args->overrides, "key.path=value overrides");
  part->callback([args, trainer] { trainer(args->config_file, args->overrides, args->start()); });
}

}  // namespace

void add_train_command(CLI::App& app) {
  CLI::App* train = app.add_subcommand("train", "Train a component (tokenizer, dynamics, policy) or the whole loop (all)");
  train->require_subcommand(1);
  add_part(*train, "tokenizer", "Train the VQ tokenizer on frames", "tokenizer", train_tokenizer);
  add_part(*train, "dynamics", "Train the dynamics model on token shards (or frames and a tokenizer)", "dynamics", train_dynamics);
  add_part(*train, "policy", "Train the policy inside the world model (imagination only)", "policy", train_policy);
  add_part(*train, "modelfree",
           "The baseline: the same actor-critic trained on the real environment only (A2C on pixels, model_free.real_steps steps), no "
           "world model",
           "policy", train_model_free);

  auto all_args = std::make_shared<TrainArgs>();
  CLI::App* all = train->add_subcommand("all", "The whole loop, epoch by epoch: collect, tokenizer, dynamics, policy in imagination, "
                                               "evaluation; the same command resumes after a kill");
  all->add_option("--config,-c", all_args->config_file, "YAML config file");
  all->add_option("overrides", all_args->overrides, "key.path=value overrides");
  all->callback([all_args] { train_all(all_args->config_file, all_args->overrides); });
}

}  // namespace wm::tools
