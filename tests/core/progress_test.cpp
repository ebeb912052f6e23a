#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <vector>

#include "core/logging.h"
#include "core/progress.h"

namespace wm::core {
namespace {

TEST(ProgressBar, RenderShowsCountRateAndEta) {
  std::ostringstream out;
  ProgressBar bar("train", 1000, "step", out, /*terminal=*/false, std::chrono::milliseconds(0));
  for (int i = 0; i < 250; ++i) bar.advance();
  // 250 of 1000 in 10 s: 25 step/s, 750 left -> 30 s.
  const std::string line = bar.render(/*elapsed_s=*/10.0);
  EXPECT_NE(line.find(" 25%"), std::string::npos) << line;
  EXPECT_NE(line.find("250/1000"), std::string::npos) << line;
  EXPECT_NE(line.find("25.0 step/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 0:30"), std::string::npos) << line;
}

TEST(ProgressBar, PlainModeWritesWholeLinesAndTerminalModeRedraws) {
  std::ostringstream plain;
  {
    ProgressBar bar("dump", 3, "frame", plain, /*terminal=*/false, std::chrono::milliseconds(0));
    bar.advance(3);
  }
  EXPECT_EQ(plain.str().find('\r'), std::string::npos);
  EXPECT_NE(plain.str().find("3/3"), std::string::npos);
  EXPECT_EQ(plain.str().back(), '\n');

  std::ostringstream terminal;
  {
    ProgressBar bar("dump", 4, "frame", terminal, /*terminal=*/true, std::chrono::milliseconds(0));
    bar.advance(2);
  }
  EXPECT_NE(terminal.str().find('\r'), std::string::npos);
  EXPECT_NE(terminal.str().find("[############............]"), std::string::npos) << terminal.str();
}

// What a terminal shows of `written`: each line as it stands after its last "wipe and redraw".
std::vector<std::string> visible_lines(const std::string& written) {
  std::vector<std::string> lines;
  std::istringstream in(written);
  for (std::string line; std::getline(in, line);) {
    const size_t wipe = line.rfind("\r\033[K");
    lines.push_back(wipe == std::string::npos ? line : line.substr(wipe + 4));
  }
  return lines;
}

// A log line while a bar is drawn on a terminal: the line stands alone, the bar below it.
TEST(ProgressBar, LogLinesGoAboveTheBarNotIntoIt) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>("status-test", console_sink_beside_status_line(std::make_shared<spdlog::sinks::ostream_sink_mt>(out)));
  logger->set_pattern("[log] %v");
  {
    ProgressBar bar("train", 100, "step", out, /*terminal=*/true, std::chrono::milliseconds(0));
    bar.advance(50);  // a terminal shows the bar from the first step on
    logger->info("step 50: held-out PSNR 20.0 dB");
  }
  logger->info("after the bar");
  const std::vector<std::string> lines = visible_lines(out.str());
  ASSERT_GE(lines.size(), 3u) << out.str();
  EXPECT_EQ(lines[0], "[log] step 50: held-out PSNR 20.0 dB") << out.str();
  EXPECT_EQ(lines[1].rfind("train ", 0), 0u) << "the bar's final state below the log line: " << out.str();
  EXPECT_EQ(lines[2], "[log] after the bar") << "a finished bar is no longer redrawn: " << out.str();
}

TEST(ProgressBar, UnknownTotalShowsCountAndElapsed) {
  std::ostringstream out;
  ProgressBar bar("collect", 0, "step", out, false, std::chrono::milliseconds(0));
  bar.advance(5);
  const std::string line = bar.render(2.0);
  EXPECT_NE(line.find("collect 5 2.5 step/s elapsed 0:02"), std::string::npos) << line;
}

}  // namespace
}  // namespace wm::core
