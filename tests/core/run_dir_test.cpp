#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <sched.h>

#include <fstream>
#include <sstream>

#include "core/run_dir.h"
#include "test_support.h"
#include "tools/wm_config.h"

namespace wm::core {
namespace {

TEST(RunDir, CreatesItsFoldersAndWritesTheResolvedConfig) {
  test::TempDir dir;
  const auto loaded = tools::load_wm_config("configs/demo.yaml",
                                            {"run.out_dir=" + dir.path().string(), "run.name=exp1"});
  RunDir run(loaded.config.run);
  EXPECT_EQ(run.root(), dir / "exp1");
  EXPECT_TRUE(std::filesystem::is_directory(run.logs()));
  EXPECT_TRUE(std::filesystem::is_directory(run.checkpoints()));
  run.write_config(loaded.yaml, "train_tokenizer");

  // The written file reproduces the run's config when loaded again.
  const auto reloaded = tools::load_wm_config(run.root() / "config.yaml", {});
  EXPECT_EQ(reloaded.yaml, loaded.yaml);
  EXPECT_EQ(reloaded.config.run.name, "exp1");
  // No temporary file is left next to it.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(run.root())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);

  // Another command's config replaces config.yaml, and each command's own copy stays.
  const auto other = tools::load_wm_config("configs/demo.yaml", {"run.out_dir=" + dir.path().string(), "run.name=exp1", "run.seed=7"});
  run.write_config(other.yaml, "train_dynamics");
  EXPECT_EQ(tools::load_wm_config(run.root() / "config.yaml", {}).config.run.seed, 7);
  EXPECT_EQ(tools::load_wm_config(run.root() / "configs" / "train_dynamics.yaml", {}).config.run.seed, 7);
  EXPECT_EQ(tools::load_wm_config(run.root() / "configs" / "train_tokenizer.yaml", {}).yaml, loaded.yaml);
}

TEST(RunDir, ThreadsSplitTheCoresAmongLocalRanks) {
  const int before = at::get_num_threads();
  EXPECT_EQ(configure_threads(/*threads=*/3, /*local_world_size=*/1), 3);
  EXPECT_EQ(at::get_num_threads(), 3);
  const int cores = usable_cores();
  EXPECT_EQ(configure_threads(0, /*local_world_size=*/cores), 1);
  EXPECT_EQ(configure_threads(0, /*local_world_size=*/cores * 4), 1);  // never zero
  at::set_num_threads(before);
}

TEST(RunDir, AllCoresMeansTheCoresTheProcessMayRunOn) {
  // Pinned to one CPU (as taskset or a batch system's binding does), "all cores" is one.
  cpu_set_t original, one;
  ASSERT_EQ(::sched_getaffinity(0, sizeof(original), &original), 0);
  EXPECT_EQ(usable_cores(), CPU_COUNT(&original));
  int first = 0;
  while (!CPU_ISSET(first, &original)) ++first;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(::sched_setaffinity(0, sizeof(one), &one), 0);
  const int before = at::get_num_threads();
  EXPECT_EQ(usable_cores(), 1);
  EXPECT_EQ(configure_threads(0, /*local_world_size=*/1), 1);
  ASSERT_EQ(::sched_setaffinity(0, sizeof(original), &original), 0);
  at::set_num_threads(before);
}

TEST(RunDir, NameWithASlashIsRejectedWhenRead) {
  try {
    tools::load_wm_config("", {"run.name=a/b"});
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("run.name"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wm::core
