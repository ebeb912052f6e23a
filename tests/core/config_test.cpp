#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "test_support.h"
#include "tools/wm_config.h"

namespace wm::core {
namespace {

// A small Options tree of its own, so these tests do not depend on which sections the real
// config has today.
enum class Mode { kFast, kExact };
struct TrainOptions {
  int64_t steps = 100;
  double lr = 3e-4;
  bool shuffle = true;
  std::string name = "x";
  std::vector<int64_t> sizes = {1, 2};
  Mode mode = Mode::kFast;
};
struct TestOptions {
  TrainOptions train;
  int64_t seed = 0;
};

ConfigSchema make_schema(TestOptions& options) {
  ConfigSchema schema;
  schema.add("seed", &options.seed, "seed");
  auto scope = schema.section("train");
  schema.add("steps", &options.train.steps, "optimizer steps");
  schema.add("lr", &options.train.lr, "learning rate");
  schema.add("shuffle", &options.train.shuffle, "shuffle windows");
  schema.add("name", &options.train.name, "a name");
  schema.add("sizes", &options.train.sizes, "sizes");
  schema.add_choice("mode", &options.train.mode, {{"fast", Mode::kFast}, {"exact", Mode::kExact}},
                    "mode");
  return schema;
}

using test::error_of;

TEST(Config, FileValuesReplaceDefaultsAndOthersKeepThem) {
  test::TempDir dir;
  test::write_text(dir / "c.yaml", "train:\n  steps: 7\n  lr: 0.5\n  sizes: [4, 5, 6]\n  mode: exact\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  load_config_file(dir / "c.yaml", schema);
  EXPECT_EQ(options.train.steps, 7);
  EXPECT_DOUBLE_EQ(options.train.lr, 0.5);
  EXPECT_EQ(options.train.sizes, (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(options.train.mode, Mode::kExact);
  EXPECT_TRUE(options.train.shuffle);  // untouched default
  EXPECT_EQ(options.seed, 0);
}

TEST(Config, OverridesBeatTheFile) {
  test::TempDir dir;
  test::write_text(dir / "c.yaml", "seed: 1\ntrain:\n  steps: 7\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  load_config_file(dir / "c.yaml", schema);
  apply_config_overrides({"train.steps=9", "train.shuffle=false", "train.sizes=[8]", "train.name=hello world"},
                         schema);
  EXPECT_EQ(options.seed, 1);
  EXPECT_EQ(options.train.steps, 9);
  EXPECT_FALSE(options.train.shuffle);
  EXPECT_EQ(options.train.sizes, (std::vector<int64_t>{8}));
  EXPECT_EQ(options.train.name, "hello world");
}

TEST(Config, IncludeLoadsTheBaseFirstAndTheIncluderWins) {
  test::TempDir dir;
  test::write_text(dir / "base" / "base.yaml", "seed: 3\ntrain:\n  steps: 50\n  lr: 0.1\n");
  test::write_text(dir / "top.yaml", "include: base/base.yaml\ntrain:\n  steps: 60\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  load_config_file(dir / "top.yaml", schema);
  EXPECT_EQ(options.seed, 3);            // from the base
  EXPECT_DOUBLE_EQ(options.train.lr, 0.1);  // from the base
  EXPECT_EQ(options.train.steps, 60);    // the including file overrides the base
}

TEST(Config, IncludeCycleIsAnError) {
  test::TempDir dir;
  test::write_text(dir / "a.yaml", "include: b.yaml\n");
  test::write_text(dir / "b.yaml", "include: a.yaml\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { load_config_file(dir / "a.yaml", schema); });
  EXPECT_NE(message.find("include cycle"), std::string::npos) << message;
}

TEST(Config, AFolderGivenAsTheConfigFileIsNamedAsAFolder) {
  test::TempDir dir;
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { load_config_file(dir.path(), schema); });
  EXPECT_NE(message.find(dir.path().string() + " is a folder, not a YAML file"), std::string::npos) << message;
  EXPECT_EQ(error_of([&] { load_config_file(dir / "missing.yaml", schema); }).find("is a folder"), std::string::npos);
}

// Found by fuzz_config: an include whose name the file system refuses (here longer than a
// file name may be) escaped as std::filesystem's exception; it is one line naming the file.
TEST(Config, AnIncludeTheFileSystemRefusesIsNamedWithTheReason) {
  test::TempDir dir;
  const std::string long_name(300, 'b');
  test::write_text(dir / "a.yaml", "include: " + long_name + ".yaml\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { load_config_file(dir / "a.yaml", schema); });
  EXPECT_NE(message.find(long_name + ".yaml cannot be opened: File name too long (included from "), std::string::npos) << message;
}

TEST(Config, UnknownKeyNamesTheKeyTheFileAndTheClosestKey) {
  test::TempDir dir;
  test::write_text(dir / "c.yaml", "seed: 1\ntrain:\n  stpes: 7\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { load_config_file(dir / "c.yaml", schema); });
  EXPECT_NE(message.find("train.stpes"), std::string::npos) << message;
  EXPECT_NE(message.find((dir / "c.yaml").string() + ":3"), std::string::npos) << message;
  EXPECT_NE(message.find("'train.steps'"), std::string::npos) << message;
}

TEST(Config, UnknownOverrideNamesTheClosestKey) {
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { apply_config_overrides({"train.l=0.1"}, schema); });
  EXPECT_NE(message.find("unknown key 'train.l'"), std::string::npos) << message;
  EXPECT_NE(message.find("'train.lr'"), std::string::npos) << message;
}

TEST(Config, WrongTypeNamesTheKeyTheExpectedTypeAndTheValue) {
  test::TempDir dir;
  test::write_text(dir / "c.yaml", "train:\n  steps: many\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { load_config_file(dir / "c.yaml", schema); });
  EXPECT_NE(message.find("key 'train.steps' expects an integer, got 'many'"), std::string::npos)
      << message;
  EXPECT_EQ(options.train.steps, 100);  // nothing half-applied to the bad key

  for (const auto& [override_text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"train.lr=fast", "expects a finite number, got 'fast'"},
           {"train.shuffle=2", "expects a boolean"},
           {"train.sizes=3", "expects a list of integers, got '3'"},
           {"train.mode=slow", "expects one of fast|exact, got 'slow'"},
           {"train.steps=1.5", "expects an integer, got '1.5'"}}) {
    const std::string m = error_of([&] { apply_config_overrides({override_text}, schema); });
    EXPECT_NE(m.find(expected), std::string::npos) << override_text << " -> " << m;
  }
}

TEST(Config, SectionGivenAValueIsAnError) {
  test::TempDir dir;
  test::write_text(dir / "c.yaml", "train: 5\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { load_config_file(dir / "c.yaml", schema); });
  EXPECT_NE(message.find("'train' is a section"), std::string::npos) << message;
}

TEST(Config, InvalidYamlNamesTheFileAndLine) {
  test::TempDir dir;
  test::write_text(dir / "c.yaml", "seed: 1\ntrain: [unclosed\n");
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { load_config_file(dir / "c.yaml", schema); });
  EXPECT_NE(message.find((dir / "c.yaml").string() + ":"), std::string::npos) << message;
  EXPECT_NE(message.find("invalid YAML"), std::string::npos) << message;
}

TEST(Config, MissingFileIsAnErrorNamingIt) {
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  const std::string message = error_of([&] { load_config_file("/nonexistent/c.yaml", schema); });
  EXPECT_NE(message.find("/nonexistent/c.yaml does not exist"), std::string::npos) << message;
}

TEST(Config, ResolvedYamlLoadsBackToTheSameValues) {
  TestOptions options;
  ConfigSchema schema = make_schema(options);
  apply_config_overrides({"seed=11", "train.lr=0.001", "train.name=a: b #c", "train.sizes=[]",
                          "train.mode=exact"},
                         schema);
  const std::string yaml = config_to_yaml(schema);
  test::TempDir dir;
  test::write_text(dir / "resolved.yaml", yaml);
  TestOptions reloaded;
  ConfigSchema reloaded_schema = make_schema(reloaded);
  load_config_file(dir / "resolved.yaml", reloaded_schema);
  EXPECT_EQ(reloaded.seed, 11);
  EXPECT_DOUBLE_EQ(reloaded.train.lr, 0.001);
  EXPECT_EQ(reloaded.train.name, "a: b #c");
  EXPECT_TRUE(reloaded.train.sizes.empty());
  EXPECT_EQ(reloaded.train.mode, Mode::kExact);
  EXPECT_EQ(config_to_yaml(reloaded_schema), yaml);
}

TEST(Config, DemoConfigLoadsAndUnknownKeyPointsToARealKey) {
  const auto loaded = tools::load_wm_config("configs/demo.yaml", {"run.seed=4"});
  EXPECT_EQ(loaded.config.run.name, "demo");
  EXPECT_EQ(loaded.config.run.seed, 4);
  EXPECT_NE(loaded.yaml.find("seed: 4"), std::string::npos);
  const std::string message =
      error_of([] { tools::load_wm_config("configs/demo.yaml", {"log.every=3"}); });
  EXPECT_NE(message.find("'log.every_steps'"), std::string::npos) << message;
}

TEST(Config, DeviceSpecIsValidatedWhenRead) {
  const std::string message =
      error_of([] { tools::load_wm_config("", {"run.device=gpu"}); });
  EXPECT_NE(message.find("key 'run.device' expects one of auto|cpu|cuda|cuda:<index>, got 'gpu'"),
            std::string::npos)
      << message;
  EXPECT_EQ(tools::load_wm_config("", {"run.device=cuda:1"}).config.run.device, "cuda:1");
}

}  // namespace
}  // namespace wm::core
