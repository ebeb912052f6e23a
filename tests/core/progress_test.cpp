#include <gtest/gtest.h>

#include <sstream>

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

TEST(ProgressBar, UnknownTotalShowsCountAndElapsed) {
  std::ostringstream out;
  ProgressBar bar("collect", 0, "step", out, false, std::chrono::milliseconds(0));
  bar.advance(5);
  const std::string line = bar.render(2.0);
  EXPECT_NE(line.find("collect 5 2.5 step/s elapsed 0:02"), std::string::npos) << line;
}

}  // namespace
}  // namespace wm::core
