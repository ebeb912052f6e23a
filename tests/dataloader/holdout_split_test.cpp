// The held-out split (dataloader::SplitSource): with a gap, no training window comes within
// the gap of a held-out one; whole episodes held out never share an episode with training.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "dataloader/data_source.h"
#include "dataloader/episode_store.h"
#include "dataloader/window_sampler.h"
#include "test_support.h"

namespace wm::dataloader {
namespace {

// Step t of episode e carries the action 1000 * e + t: a window says where it came from.
std::shared_ptr<EpisodeStore> numbered_store(const std::filesystem::path& dir, const std::vector<int64_t>& lengths) {
  auto store = std::make_shared<EpisodeStore>(dir, EpisodeStore::Mode::kAppend);
  for (size_t e = 0; e < lengths.size(); ++e) {
    const int64_t t = lengths[e];
    Episode episode;
    episode.frames = torch::zeros({t, 2, 2, 3}, torch::kUInt8);
    episode.actions = torch::arange(t, torch::kInt64) + 1000 * static_cast<int64_t>(e);
    episode.rewards = torch::zeros({t});
    episode.dones = torch::zeros({t}, torch::kUInt8);
    store->append(episode);
  }
  return store;
}

// Every real step of many sampled windows of `part`, per source episode.
std::map<int64_t, std::set<int64_t>> steps_seen(std::shared_ptr<const WindowSource> part, int64_t window) {
  WindowSamplerOptions options;
  options.window = window;
  options.batch = 512;
  options.seed = 3;
  WindowSampler sampler(std::move(part), options);
  std::map<int64_t, std::set<int64_t>> seen;
  for (int round = 0; round < 4; ++round) {
    const WindowBatch batch = sampler.sample();
    const at::Tensor real = batch.actions.masked_select(batch.mask.to(torch::kBool));
    for (int64_t i = 0; i < real.numel(); ++i) {
      const int64_t value = real[i].item<int64_t>();
      seen[value / 1000].insert(value % 1000);
    }
  }
  return seen;
}

TEST(HoldoutSplit, WithAGapNoTrainingWindowComesWithinTheGapOfAHeldOutOne) {
  test::TempDir dir;
  auto store = numbered_store(dir.path(), {50, 80, 37});
  DataOptions data;
  data.holdout_fraction = 0.2;
  data.holdout_gap_steps = 6;  // a context of 6 steps
  const auto train = steps_seen(std::make_shared<SplitSource>(store, data, SplitSource::Part::kTrain), 6);
  const auto held = steps_seen(std::make_shared<SplitSource>(store, data, SplitSource::Part::kHoldout), 6);
  ASSERT_EQ(train.size(), 3u);
  ASSERT_EQ(held.size(), 3u);
  for (const auto& [episode, held_steps] : held) {
    const int64_t last_trained = *train.at(episode).rbegin(), first_held = *held_steps.begin();
    EXPECT_GT(first_held - last_trained, data.holdout_gap_steps) << "episode " << episode;
    // The tail is the last 20% whatever the gap, and is all seen.
    const int64_t length = store->episode_length(episode);
    EXPECT_EQ(first_held, static_cast<int64_t>(std::floor(length * 0.8))) << "episode " << episode;
    EXPECT_EQ(*held_steps.rbegin(), length - 1);
  }
  // Without a gap the parts touch: the gap is what keeps them apart.
  data.holdout_gap_steps = 0;
  const auto touching = steps_seen(std::make_shared<SplitSource>(store, data, SplitSource::Part::kTrain), 6);
  EXPECT_EQ(*touching.at(1).rbegin() + 1, *held.at(1).begin());
}

TEST(HoldoutSplit, WholeEpisodesHeldOutNeverShareAnEpisodeWithTraining) {
  test::TempDir dir;
  auto store = numbered_store(dir.path(), {20, 30, 25, 40, 22});
  DataOptions data;
  data.holdout = Holdout::kEpisodes;
  data.holdout_fraction = 0.4;  // 2 of 5 episodes: the last two
  const auto train = steps_seen(std::make_shared<SplitSource>(store, data, SplitSource::Part::kTrain), 4);
  const auto held = steps_seen(std::make_shared<SplitSource>(store, data, SplitSource::Part::kHoldout), 4);
  std::set<int64_t> train_episodes, held_episodes;
  for (const auto& [e, steps] : train) train_episodes.insert(e);
  for (const auto& [e, steps] : held) held_episodes.insert(e);
  EXPECT_EQ(train_episodes, (std::set<int64_t>{0, 1, 2}));
  EXPECT_EQ(held_episodes, (std::set<int64_t>{3, 4}));
  EXPECT_EQ(train.at(1).size(), 30u);  // whole episodes, first step to last
  EXPECT_EQ(held.at(3).size(), 40u);

  // A single episode cannot be held out whole.
  test::TempDir one;
  auto single = numbered_store(one.path(), {20});
  EXPECT_NE(test::error_of([&] { SplitSource(single, data, SplitSource::Part::kTrain); }).find("data.holdout=episodes needs at least 2 episodes"),
            std::string::npos);
  data.holdout = Holdout::kTail;
  data.holdout_gap_steps = -1;
  EXPECT_NE(test::error_of([&] { SplitSource(store, data, SplitSource::Part::kTrain); }).find("data.holdout_gap_steps -1 is negative"),
            std::string::npos);
}

}  // namespace
}  // namespace wm::dataloader
