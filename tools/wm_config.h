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
  core::LogOptions log;
  core::CheckpointOptions checkpoint;
};

void describe(core::ConfigSchema& schema, CollectOptions& collect);
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
