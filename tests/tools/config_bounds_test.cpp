// Every numeric key of wm's config has its range in the schema: a value outside it (an
// interval of 0 that used to divide by zero, a negative count, a NaN learning rate) is one
// error naming the key, the accepted range and the value, at load, before anything runs.
#include <gtest/gtest.h>

#include <cmath>

#include "core/config_schema.h"
#include "test_support.h"
#include "tools/wm_config.h"

namespace wm {
namespace {

using test::error_of;

TEST(ConfigBounds, ValuesOutsideAKeysRangeAreOneLineNamingKeyRangeAndValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"log.every_steps=0", "key 'log.every_steps' expects an integer >= 1, got '0'"},
      {"checkpoint.every_steps=0", "key 'checkpoint.every_steps' expects an integer >= 1, got '0'"},
      {"tokenizer_train.eval_every=0", "key 'tokenizer_train.eval_every' expects an integer >= 1, got '0'"},
      {"dynamics_train.eval_every=0", "key 'dynamics_train.eval_every' expects an integer >= 1, got '0'"},
      {"tokenizer.restart_every=0", "key 'tokenizer.restart_every' expects an integer >= 1, got '0'"},
      {"tokenizer.res_blocks=-1", "key 'tokenizer.res_blocks' expects an integer in 0..64, got '-1'"},
      {"run.threads=-1", "key 'run.threads' expects a 32-bit integer in 0..1024, got '-1'"},
      {"run.threads=100000", "key 'run.threads' expects a 32-bit integer in 0..1024, got '100000'"},
      {"dynamics_train.lr=nan", "key 'dynamics_train.lr' expects a finite number >= 0, got 'nan'"},
      {"policy_train.time_budget_s=nan", "key 'policy_train.time_budget_s' expects a finite number >= 0, got 'nan'"},
      {"tokenizer_train.lr=inf", "key 'tokenizer_train.lr' expects a finite number >= 0, got 'inf'"},
      {"dynamics.context_steps=100000", "key 'dynamics.context_steps' expects an integer in 2..4096, got '100000'"},
      {"dynamics.width=0", "key 'dynamics.width' expects an integer in 1..65536, got '0'"},
      {"tokenizer.base_channels=0", "key 'tokenizer.base_channels' expects an integer in 1..65536, got '0'"},
      {"policy_train.gamma=1.5", "key 'policy_train.gamma' expects a finite number in 0..1, got '1.5'"},
      {"loop.epochs=-3", "key 'loop.epochs' expects an integer >= 1, got '-3'"},
      {"data.weights=[1,nan]", "key 'data.weights' expects a list of finite numbers, got element 'nan'"},
  };
  for (const auto& [override_text, expected] : cases) {
    const std::string message = error_of([&] { tools::load_wm_config("", {override_text}); });
    EXPECT_NE(message.find(expected), std::string::npos) << override_text << " -> " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(ConfigBounds, TheBoundsAreInclusiveAndTheShippedConfigsLoad) {
  const auto loaded = tools::load_wm_config("", {"log.every_steps=1", "run.threads=0", "policy_train.gamma=1", "tokenizer.res_blocks=0",
                                                  "dynamics.context_steps=2", "dynamics_train.lr=0"});
  EXPECT_EQ(loaded.config.log.every_steps, 1);
  EXPECT_EQ(loaded.config.policy_train.gamma, 1.0);
  for (const auto& entry : std::filesystem::directory_iterator("configs")) {
    if (entry.path().extension() != ".yaml") continue;
    EXPECT_EQ(error_of([&] { tools::load_wm_config(entry.path(), {}); }), "") << entry.path();
  }
}

TEST(ConfigBounds, ConfigShowDocumentsEachRange) {
  core::ConfigSchema schema;
  tools::WmConfig config;
  tools::describe(schema, config);
  const core::ConfigField* every = schema.find("log.every_steps");
  ASSERT_NE(every, nullptr);
  EXPECT_EQ(every->type_name, "an integer >= 1");
  EXPECT_EQ(schema.find("policy_train.lambda")->type_name, "a finite number in 0..1");
}

}  // namespace
}  // namespace wm
