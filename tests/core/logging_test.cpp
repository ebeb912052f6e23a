#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "core/logging.h"
#include "test_support.h"

namespace wm::core {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Logging, EveryRankWritesItsOwnFileAndOnlyRankZeroPrints) {
  test::TempDir dir;
  LogOptions options;
  testing::internal::CaptureStderr();
  init_logging(options, dir / "logs", /*rank=*/1);
  spdlog::info("message from rank one");
  spdlog::default_logger()->flush();
  const std::string console = testing::internal::GetCapturedStderr();
  EXPECT_EQ(console.find("message from rank one"), std::string::npos) << console;
  const std::string file = read_text(dir / "logs" / "rank1.log");
  EXPECT_NE(file.find("message from rank one"), std::string::npos) << file;
  EXPECT_NE(file.find("[rank 1]"), std::string::npos) << file;

  testing::internal::CaptureStderr();
  init_logging(options, dir / "logs", /*rank=*/0);
  spdlog::info("message from rank zero");
  spdlog::default_logger()->flush();
  EXPECT_NE(testing::internal::GetCapturedStderr().find("message from rank zero"), std::string::npos);
  init_logging(options, {}, 0);  // leave a console-only logger for other tests
}

TEST(Logging, LevelFiltersMessages) {
  test::TempDir dir;
  LogOptions options;
  options.level = "warn";
  init_logging(options, dir / "logs", /*rank=*/2);
  spdlog::info("quiet info");
  spdlog::warn("loud warning");
  spdlog::default_logger()->flush();
  const std::string file = read_text(dir / "logs" / "rank2.log");
  EXPECT_EQ(file.find("quiet info"), std::string::npos);
  EXPECT_NE(file.find("loud warning"), std::string::npos);
  init_logging(LogOptions{}, {}, 0);
}

}  // namespace
}  // namespace wm::core
