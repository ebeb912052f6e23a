#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "core/file_io.h"
#include "test_support.h"

namespace wm::core {
namespace {

// A pid that surely belongs to no process: a child that has exited and been reaped.
long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

// What a killed writer left goes; a live writer's work in progress and other names stay.
TEST(FileIo, OnlyTemporariesOfDeadWritersAreRemoved) {
  test::TempDir dir;
  const std::string prefix = ".dreams.dream.tmp.";
  const auto dead = dir / (prefix + std::to_string(dead_pid()));
  const auto live = dir / (prefix + std::to_string(::getpid()));
  const auto other = dir / (prefix + "notapid");
  for (const auto& folder : {dead, live, other}) {
    std::filesystem::create_directories(folder);
    std::ofstream(folder / "dream.gif") << "partial";
  }
  EXPECT_FALSE(process_alive(dead_pid()));
  EXPECT_TRUE(process_alive(::getpid()));
  EXPECT_EQ(remove_dead_writers_temporaries(dir.path(), prefix), 1);
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(live / "dream.gif"));
  EXPECT_TRUE(std::filesystem::exists(other));
}

}  // namespace
}  // namespace wm::core
