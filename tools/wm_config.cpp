#include "tools/wm_config.h"

#include "core/config.h"
#include "core/error.h"

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
  schema.add("steps", &collect.steps, "environment steps, all environments together", core::at_least(1));
  schema.add("policy", &collect.policy, "random | expert (the driving game's scripted driver) | a policy checkpoint or run folder");
}

void describe(core::ConfigSchema& schema, LoopOptions& loop) {
  schema.add("epochs", &loop.epochs, "epochs of collect, train tokenizer, dynamics and policy, evaluate", core::at_least(1));
  schema.add("collect_steps", &loop.collect_steps, "real environment steps collected per epoch (all environments together)", core::at_least(0));
  schema.add("first_agent", &loop.first_agent, "who collects before the policy has trained: random | expert");
  schema.add("first_agent_epsilon", &loop.first_agent_epsilon,
             "share of the first agent's actions replaced by uniformly random ones (0..1): demonstrations that also show what other actions do", core::between(0, 1));
  schema.add("first_agent_hold", &loop.first_agent_hold,
             "steps each random action of first_agent_epsilon is held, on average (1..1000): one step of steering barely moves the car, "
             "so the world model sees what steering does only when it is sustained", core::at_least(1));
  schema.add("tokenizer_steps", &loop.tokenizer_steps, "tokenizer optimizer steps per epoch", core::at_least(0));
  schema.add("dynamics_steps", &loop.dynamics_steps, "dynamics optimizer steps per epoch", core::at_least(0));
  schema.add("policy_steps", &loop.policy_steps, "policy optimizer steps per epoch (in imagination)", core::at_least(0));
  schema.add("tokenizer_start", &loop.tokenizer_start, "first epoch the tokenizer trains in", core::at_least(1));
  schema.add("dynamics_start", &loop.dynamics_start, "first epoch the dynamics model trains in", core::at_least(1));
  schema.add("policy_start", &loop.policy_start, "first epoch the policy trains in", core::at_least(1));
  schema.add("eval_every", &loop.eval_every, "epochs between real-environment evaluations (and after the last)", core::at_least(1));
  schema.add("eval_episodes", &loop.eval_episodes, "whole episodes per evaluation", core::at_least(0));
  schema.add("final_episodes", &loop.final_episodes, "whole episodes per agent in the final table (trained policy, random, expert)", core::at_least(1));
}

void LoopOptions::validate() const {
  auto check = [](const char* key, int64_t value, int64_t low) {
    if (value < low) throw core::Error(std::string("loop.") + key + " = " + std::to_string(value) + " is outside its range: " + std::to_string(low) + " or more");
  };
  check("epochs", epochs, 1);
  check("collect_steps", collect_steps, 0);
  check("tokenizer_steps", tokenizer_steps, 0);
  check("dynamics_steps", dynamics_steps, 0);
  check("policy_steps", policy_steps, 0);
  check("tokenizer_start", tokenizer_start, 1);
  check("dynamics_start", dynamics_start, tokenizer_start);
  check("policy_start", policy_start, dynamics_start);
  check("eval_every", eval_every, 1);
  check("eval_episodes", eval_episodes, 0);
  check("final_episodes", final_episodes, 1);
  if (!(first_agent_epsilon >= 0.0 && first_agent_epsilon <= 1.0)) {
    throw core::Error("loop.first_agent_epsilon = " + std::to_string(first_agent_epsilon) + " is outside its range: 0..1");
  }
  if (first_agent_hold < 1 || first_agent_hold > 1000) {
    throw core::Error("loop.first_agent_hold = " + std::to_string(first_agent_hold) + " is outside its range: 1..1000");
  }
  if (first_agent != "random" && first_agent != "expert") throw core::Error("loop.first_agent = '" + first_agent + "': expected random or expert");
}

void describe(core::ConfigSchema& schema, ModelFreeOptions& model_free) {
  schema.add("real_steps", &model_free.real_steps, "real environment steps to learn from, all environments together", core::at_least(1));
  schema.add("envs", &model_free.envs, "environments played together; each update learns from envs x policy_train.horizon steps", core::between(1, 1024));
}

void ModelFreeOptions::validate() const {
  if (real_steps < 1) throw core::Error("model_free.real_steps = " + std::to_string(real_steps) + " is outside its range: 1 or more");
  if (envs < 1 || envs > 1024) throw core::Error("model_free.envs = " + std::to_string(envs) + " is outside its range: 1..1024");
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
  describe_section(schema, "loop", config.loop);
  describe_section(schema, "model_free", config.model_free);
  describe_section(schema, "log", config.log);
  describe_section(schema, "checkpoint", config.checkpoint);
  describe_section(schema, "dist", config.dist);
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
