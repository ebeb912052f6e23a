// The wm binary as a user runs it: exit codes and one-line errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <sstream>

#include "test_support.h"
#include "wm/build_config.h"

namespace wm {
namespace {

int line_count(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}

TEST(Cli, VersionNamesTorchCudaAndBlas) {
  const auto r = test::run_command(test::wm_binary() + " --version");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("torch 2."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CUDA: compiled in"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GPUs visible:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BLAS: "), std::string::npos) << r.out;
}

TEST(Cli, HelpListsTheSubcommands) {
  const auto r = test::run_command(test::wm_binary() + " --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("config"), std::string::npos);
  EXPECT_NE(r.out.find("bench"), std::string::npos);
}

TEST(Cli, ConfigShowPrintsTheResolvedConfig) {
  const auto r = test::run_command(test::wm_binary() + " config show --config configs/demo.yaml run.seed=7");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("seed: 7"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(Cli, UnknownKeyExitsNonZeroWithOneLineNamingKeyAndClosestKey) {
  const auto r = test::run_command(test::wm_binary() + " config show --config configs/demo.yaml bogus.key=1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("'bogus.key'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("closest valid key"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(Cli, UserErrorsExitNonZeroWithOneLineAndNoStackTrace) {
  for (const std::string args : {"config show --config configs/missing.yaml",
                                 "config show run.seed=abc",
                                 "bench gemm --device cuda:9 --sizes 8 --min-time 0.001",
                                 "no-such-command",
                                 "bench gemm --sizes -4"}) {
    const auto r = test::run_command(test::wm_binary() + " " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(line_count(r.err), 1) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind("wm: error: ", 0), 0u) << args << ": " << r.err;
  }
}

TEST(Cli, BenchGemmJsonPrintsOneObjectPerLine) {
  const auto r = test::run_command(test::wm_binary() + " bench gemm --json --device cpu --sizes 64 --min-time 0.01");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  int records = 0;
  for (std::string line; std::getline(lines, line); ++records) {
    const auto record = nlohmann::json::parse(line);
    EXPECT_EQ(record["bench"], "gemm");
    EXPECT_GT(record["value"].get<double>(), 0.0);
    EXPECT_EQ(record["device"], "cpu");
  }
  EXPECT_EQ(records, 2);  // fp32 and bf16

  // A comma list of sizes, as the README writes it: each size in fp32 and bf16.
  const auto listed = test::run_command(test::wm_binary() + " bench gemm --json --device cpu --sizes 32,64 --min-time 0.01");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 4) << listed.out;
}

TEST(Cli, BenchEnvReportsStepRatesAndReturns) {
  const auto r = test::run_command(test::wm_binary() + " bench env --json --min-time 0.05 --episodes 2 --envs 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, nlohmann::json> records;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto record = nlohmann::json::parse(line);
    records[record["metric"]] = record;
  }
  for (const char* metric : {"driving_steps_per_s", "driving_vector_steps_per_s", "pong_bridge_steps_per_s",
                             "driving_expert_return", "driving_random_return"}) {
    ASSERT_TRUE(records.count(metric)) << metric << " missing from " << r.out;
  }
  EXPECT_GT(records["driving_steps_per_s"]["value"].get<double>(), 0.0);
  EXPECT_GT(records["driving_expert_return"]["value"].get<double>(), records["driving_random_return"]["value"].get<double>());
  EXPECT_EQ(records["driving_expert_return"]["episodes"], 2);
}

TEST(Cli, BenchDecodeMeasuresOneAndTwoThreadsOnTheRealRecording) {
  const auto r = test::run_command(test::wm_binary() + " bench decode --json --min-time 0.05");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  if (r.out.empty()) GTEST_SKIP() << "the shared recording is absent: " << r.err;
  std::istringstream lines(r.out);
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(lines, line);) records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["threads"], 1);
  EXPECT_EQ(records[1]["threads"], 2);
  for (const auto& record : records) EXPECT_GT(record["value"].get<double>(), 0.0);
}

TEST(Cli, BenchTokenizerComparesWithThePyTorchReference) {
  const auto r = test::run_command(test::wm_binary() + " bench tokenizer --json --batch 2 --seconds 0.05");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(lines, line);) records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 2u);
  for (const auto& record : records) {
    EXPECT_EQ(record["baseline"], "pytorch");
    EXPECT_GT(record["baseline_value"].get<double>(), 0.0);
    EXPECT_NEAR(record["ratio"].get<double>(), record["value"].get<double>() / record["baseline_value"].get<double>(), 1e-9);
  }
}

TEST(Cli, WmrunWithoutACommandShowsItsUsageAndFails) {
  const auto bare = test::run_command(std::string(WM_BINARY_DIR) + "/wmrun");
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_NE(bare.out.find("usage: wmrun"), std::string::npos) << bare.out;
  const auto help = test::run_command(std::string(WM_BINARY_DIR) + "/wmrun --help");
  EXPECT_EQ(help.exit_code, 0);
  const auto flags_only = test::run_command(std::string(WM_BINARY_DIR) + "/wmrun --standalone");
  EXPECT_EQ(flags_only.exit_code, 2);
  EXPECT_NE(flags_only.err.find("wmrun: no worker command given"), std::string::npos) << flags_only.err;
}

}  // namespace
}  // namespace wm
