// Several sources as one (dataloader::MixedSource): each supplies its weight's share of the
// windows, frames come through whatever the sources' action kinds, and frames of another
// size are a line naming both sources.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dataloader/data_source.h"
#include "dataloader/episode_store.h"
#include "dataloader/mixed_source.h"
#include "dataloader/window_sampler.h"
#include "test_support.h"

namespace wm::dataloader {
namespace {

// `episodes` episodes of `length` frames whose pixels all hold `value`; discrete actions, or
// continuous 2-vectors.
std::shared_ptr<EpisodeStore> flat_store(const std::filesystem::path& dir, int episodes, int64_t length, uint8_t value, bool continuous,
                                         int64_t size = 4) {
  auto store = std::make_shared<EpisodeStore>(dir, EpisodeStore::Mode::kAppend);
  for (int e = 0; e < episodes; ++e) {
    Episode episode;
    episode.frames = torch::full({length, size, size, 3}, value, torch::kUInt8);
    episode.actions = continuous ? torch::ones({length, 2}) : torch::ones({length}, torch::kInt64);
    episode.rewards = torch::zeros({length});
    episode.dones = torch::zeros({length}, torch::kUInt8);
    store->append(episode);
  }
  return store;
}

// The share of `batches` x 500 one-step windows whose frames hold `value`.
double share_of(std::shared_ptr<const WindowSource> source, uint8_t value, int batches = 8) {
  WindowSamplerOptions options;
  options.window = 1;
  options.batch = 500;
  options.seed = 11;
  WindowSampler sampler(std::move(source), options);
  double hits = 0;
  for (int b = 0; b < batches; ++b) hits += (sampler.sample().observations.select(1, 0).flatten(1).select(1, 0) == value).sum().item<double>();
  return hits / (batches * 500.0);
}

TEST(MixedSource, EachSourceSuppliesItsWeightsShareOfTheWindows) {
  test::TempDir dir;
  auto big = flat_store(dir / "big", 3, 100, 10, /*continuous=*/false);   // 300 steps
  auto small = flat_store(dir / "small", 1, 20, 200, /*continuous=*/true);  // 20 steps, another action kind
  auto weighted = std::make_shared<MixedSource>(std::vector<MixedSource::Part>{{"big", big, 1.0}, {"small", small, 3.0}});
  EXPECT_TRUE(weighted->frames_only());
  EXPECT_EQ(weighted->num_episodes(), 4);
  EXPECT_EQ(weighted->action_dim(), 0);
  EXPECT_NEAR(share_of(weighted, 200), 0.75, 0.03);
  EXPECT_NEAR(share_of(weighted, 10), 0.25, 0.03);
  // Unweighted: each by its number of steps, as one source would be (20 of 320).
  auto by_size = std::make_shared<MixedSource>(std::vector<MixedSource::Part>{{"big", big, 0.0}, {"small", small, 0.0}});
  EXPECT_NEAR(share_of(by_size, 200), 20.0 / 320.0, 0.02);
}

TEST(MixedSource, FramesOfAnotherSizeOrAMixOfWeightedAndUnweightedIsALineNamingTheSource) {
  test::TempDir dir;
  auto a = flat_store(dir / "a", 1, 5, 1, false), b = flat_store(dir / "b", 1, 5, 2, false, /*size=*/8);
  EXPECT_NE(test::error_of([&] { MixedSource({{"a", a, 0.0}, {"b", b, 0.0}}); }).find("source b has 8x8x3 Byte frames, a 4x4x3 Byte"),
            std::string::npos);
  auto c = flat_store(dir / "c", 1, 5, 3, false);
  EXPECT_NE(test::error_of([&] { MixedSource({{"a", a, 1.0}, {"c", c, 0.0}}); }).find("source c: weight 0.000000 must be a finite number > 0"),
            std::string::npos);
  DataOptions gap_eats_all;  // the held-out gap leaves c's one 5-step episode no training steps
  gap_eats_all.holdout_gap_steps = 10;
  auto empty = std::make_shared<SplitSource>(c, gap_eats_all, SplitSource::Part::kTrain);
  EXPECT_NE(test::error_of([&] { MixedSource({{"a", a, 1.0}, {"empty", empty, 1.0}}); }).find("source empty has no steps to sample"),
            std::string::npos);
  const auto same_kind = MixedSource({{"a", a, 0.0}, {"c", c, 0.0}});
  EXPECT_FALSE(same_kind.frames_only());
  EXPECT_EQ(same_kind.discrete_action_count(), 2);
}

}  // namespace
}  // namespace wm::dataloader
