#include "tools/wm_config.h"

#include "core/config.h"

namespace wm::tools {

void describe(core::ConfigSchema& schema, WmConfig& config) {
  {
    auto scope = schema.section("run");
    core::describe(schema, config.run);
  }
  {
    auto scope = schema.section("env");
    envs::describe(schema, config.env);
  }
  {
    auto scope = schema.section("collect");
    schema.add("steps", &config.collect.steps, "environment steps, all environments together");
    schema.add("policy", &config.collect.policy, "random | expert (the driving game's scripted driver)");
  }
  {
    auto scope = schema.section("dataset");
    dataloader::describe(schema, config.dataset);
  }
  {
    auto scope = schema.section("data");
    dataloader::describe(schema, config.data);
  }
  {
    auto scope = schema.section("tokenizer");
    tokenizer::describe(schema, config.tokenizer);
  }
  {
    auto scope = schema.section("tokenizer_train");
    tokenizer::describe(schema, config.tokenizer_train);
  }
  {
    auto scope = schema.section("log");
    core::describe(schema, config.log);
  }
  {
    auto scope = schema.section("checkpoint");
    core::describe(schema, config.checkpoint);
  }
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

}  // namespace wm::tools
