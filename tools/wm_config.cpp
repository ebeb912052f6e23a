#include "tools/wm_config.h"

#include "core/config.h"

namespace wm::tools {

namespace {

// Describes `options` under the key prefix `name` (e.g. run.seed); each Options type has
// its describe() in its own namespace, found by argument-dependent lookup.
template <class Options>
void describe_section(core::ConfigSchema& schema, const char* name, Options& options) {
  auto scope = schema.section(name);
  describe(schema, options);
}

}  // namespace

void describe(core::ConfigSchema& schema, CollectOptions& collect) {
  schema.add("steps", &collect.steps, "environment steps, all environments together");
  schema.add("policy", &collect.policy, "random | expert (the driving game's scripted driver) | a policy checkpoint or run folder");
}

void describe(core::ConfigSchema& schema, WmConfig& config) {
  describe_section(schema, "run", config.run);
  describe_section(schema, "env", config.env);
  describe_section(schema, "collect", config.collect);
  describe_section(schema, "dataset", config.dataset);
  describe_section(schema, "data", config.data);
  describe_section(schema, "tokenizer", config.tokenizer);
  describe_section(schema, "tokenizer_train", config.tokenizer_train);
  describe_section(schema, "dynamics", config.dynamics);
  describe_section(schema, "dynamics_train", config.dynamics_train);
  describe_section(schema, "policy", config.policy);
  describe_section(schema, "policy_train", config.policy_train);
  describe_section(schema, "log", config.log);
  describe_section(schema, "checkpoint", config.checkpoint);
}

LoadedConfig load_wm_config(const std::filesystem::path& file,
                            const std::vector<std::string>& overrides) {
  LoadedConfig loaded;
  core::ConfigSchema schema;
  describe(schema, loaded.config);
  if (!file.empty()) core::load_config_file(file, schema);
  core::apply_config_overrides(overrides, schema);
  loaded.yaml = core::config_to_yaml(schema);
  return loaded;
}

InputsAndOverrides split_inputs_and_overrides(const std::vector<std::string>& words) {
  InputsAndOverrides split;
  for (const auto& word : words) {
    if (word.find('=') != std::string::npos && !std::filesystem::exists(word)) split.overrides.push_back(word);
    else split.inputs.emplace_back(word);
  }
  return split;
}

}  // namespace wm::tools
