// Collection in instalments (wm train all's epochs): an episode longer than one instalment
// goes on in the next and is stored whole, with every step it took.
#include <gtest/gtest.h>

#include "dataloader/episode_store.h"
#include "envs/agent.h"
#include "envs/env_options.h"
#include "test_support.h"
#include "tools/collect_episodes.h"

namespace wm::tools {
namespace {

TEST(Collector, AnEpisodeLongerThanAnInstalmentIsStoredWholeOnceItEnds) {
  test::TempDir dir;
  envs::EnvOptions options;
  options.num_envs = 1;
  options.height = options.width = 32;
  options.max_steps = 40;
  auto env = envs::make_vector_env(options);
  dataloader::EpisodeStore store(dir / "episodes", dataloader::EpisodeStore::Mode::kAppend);
  envs::DrivingExpertAgent expert(*env);  // drives the whole 40 steps: truncated, not crashed
  Collector collector(*env, store, 5);

  const CollectReport first = collector.collect(expert, 30, {}, /*progress_bar=*/false);
  EXPECT_EQ(first.steps, 30);
  EXPECT_TRUE(first.returns.empty());
  EXPECT_EQ(store.num_episodes(), 0);

  const CollectReport second = collector.collect(expert, 30, {}, /*progress_bar=*/false);
  ASSERT_EQ(second.returns.size(), 1u) << "the episode begun in the first instalment ends in the second";
  ASSERT_EQ(store.num_episodes(), 1);
  EXPECT_EQ(store.episode_length(0), 40);

  // A fresh collection of the same 60 steps stores nothing: its episode is cut at the end.
  dataloader::EpisodeStore other(dir / "other", dataloader::EpisodeStore::Mode::kAppend);
  EXPECT_TRUE(collect_episodes(*env, expert, other, 30, 5, {}, false).returns.empty());
  EXPECT_EQ(other.num_episodes(), 0);
}

}  // namespace
}  // namespace wm::tools
