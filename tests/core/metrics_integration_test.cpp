#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "core/metrics.h"
#include "test_support.h"

namespace wm::core {
namespace {

TEST(Metrics, JsonlHasOneObjectPerStepAndTensorBoardReadsTheScalars) {
  test::TempDir dir;
  {
    MetricsWriter writer(dir.path(), /*tensorboard=*/true);
    for (int64_t step = 10; step <= 30; step += 10) {
      writer.write(step, {{"loss", 1.0 / static_cast<double>(step)}, {"psnr", 20.0 + static_cast<double>(step)}});
    }
    writer.write(40, {{"loss", std::nan("")}});
  }

  std::ifstream jsonl(dir / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(jsonl, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1]["step"], 20);
  EXPECT_DOUBLE_EQ(lines[1]["loss"].get<double>(), 0.05);
  EXPECT_TRUE(lines[3]["loss"].is_null());  // NaN is not JSON; it is written as null

  const auto result = test::run_command(test::venv_python() + " tests/python/read_tb_events.py " +
                                        (dir / "tb").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto scalars = nlohmann::json::parse(result.out);
  ASSERT_TRUE(scalars.contains("psnr")) << result.out;
  ASSERT_EQ(scalars["psnr"].size(), 3u);
  EXPECT_EQ(scalars["psnr"][2][0], 30);
  EXPECT_NEAR(scalars["psnr"][2][1].get<double>(), 50.0, 1e-5);
  EXPECT_EQ(scalars["loss"].size(), 4u);
  EXPECT_NEAR(scalars["loss"][0][1].get<double>(), 0.1, 1e-6);
}

}  // namespace
}  // namespace wm::core
