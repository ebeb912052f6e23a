// The whole configuration of a wm run: one section per library, each described by that
// library's describe().
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/config_schema.h"
#include "core/options.h"
#include "dataloader/data_source.h"
#include "dataloader/dataset_options.h"
#include "dist/dist_options.h"
#include "dynamics/dynamics_options.h"
#include "dynamics/dynamics_trainer.h"
#include "envs/env_options.h"
#include "policy/policy_options.h"
#include "tokenizer/tokenizer_options.h"
#include "tokenizer/tokenizer_trainer.h"

namespace wm::tools {

struct CollectOptions {
  int64_t steps = 10000;         // environment steps, all environments together
  std::string policy = "random"; // random | expert (driving only) | a policy checkpoint or run folder
};

// wm train all: IRIS's schedule, epoch by epoch — collect with the current agent, then
// train each component for its steps of this epoch, then evaluate in the real environment.
struct LoopOptions {
  int64_t epochs = 10;
  int64_t collect_steps = 2000;        // real environment steps per epoch, all environments together
  std::string first_agent = "random";  // who collects before a policy has trained: random | expert
  double first_agent_epsilon = 0.0;    // share of the first agent's actions replaced by random ones
  int64_t first_agent_hold = 1;        // steps each of those random actions is held, on average
  int64_t tokenizer_steps = 200;       // optimizer steps per epoch
  int64_t dynamics_steps = 200;
  int64_t policy_steps = 100;
  int64_t tokenizer_start = 1;         // the first epoch each component trains in
  int64_t dynamics_start = 1;
  int64_t policy_start = 1;
  int64_t eval_every = 1;              // epochs between real-environment evaluations
  int64_t eval_episodes = 4;           // whole episodes per evaluation
  int64_t final_episodes = 10;         // whole episodes per agent in the final table

  // Throws wm::core::Error naming loop.<key>.
  void validate() const;
};

// wm train modelfree: the baseline without a world model (policy/model_free_trainer.h).
struct ModelFreeOptions {
  int64_t real_steps = 50000;  // environment steps to learn from, all environments together
  int64_t envs = 16;           // environments played together (one rollout row each)

  // Throws wm::core::Error naming model_free.<key>.
  void validate() const;
};

struct WmConfig {
  core::RunOptions run;
  envs::EnvOptions env;
  CollectOptions collect;
  dataloader::DatasetOptions dataset;
  dataloader::DataOptions data;
  tokenizer::TokenizerOptions tokenizer;
  tokenizer::TokenizerTrainOptions tokenizer_train;
  dynamics::DynamicsOptions dynamics;
  dynamics::DynamicsTrainOptions dynamics_train;
  policy::PolicyOptions policy;
  policy::PolicyTrainOptions policy_train;
  LoopOptions loop;
  ModelFreeOptions model_free;
  core::LogOptions log;
  core::CheckpointOptions checkpoint;
  dist::DistOptions dist;
};

void describe(core::ConfigSchema& schema, CollectOptions& collect);
void describe(core::ConfigSchema& schema, LoopOptions& loop);
void describe(core::ConfigSchema& schema, WmConfig& config);

// Positional words of commands that take inputs: key=value overrides (a word with '=' that
// is not an existing path) and input paths, in their order.
struct InputsAndOverrides {
  std::vector<std::filesystem::path> inputs;
  std::vector<std::string> overrides;
};
InputsAndOverrides split_inputs_and_overrides(const std::vector<std::string>& words);

struct LoadedConfig {
  WmConfig config;
  std::string yaml;  // the resolved config, as written to <run>/config.yaml
};

// Defaults, then `file` (with its includes) when not empty, then the overrides.
LoadedConfig load_wm_config(const std::filesystem::path& file,
                            const std::vector<std::string>& overrides);

}  // namespace wm::tools
