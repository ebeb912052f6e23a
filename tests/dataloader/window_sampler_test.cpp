#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "dataloader/episode_store.h"
#include "dataloader/window_sampler.h"
#include "test_support.h"

namespace wm::dataloader {
namespace {

// Frame t of episode e holds the value 10 * e + t, so windows can be checked step by step.
std::shared_ptr<EpisodeStore> make_store(const std::filesystem::path& dir, const std::vector<int64_t>& lengths) {
  auto store = std::make_shared<EpisodeStore>(dir, EpisodeStore::Mode::kAppend);
  for (size_t e = 0; e < lengths.size(); ++e) {
    const int64_t t = lengths[e];
    auto values = torch::arange(t, torch::kInt64) + 10 * static_cast<int64_t>(e);
    Episode episode;
    episode.frames = values.to(torch::kUInt8).view({t, 1, 1, 1}).expand({t, 2, 2, 3}).contiguous();
    episode.actions = values;
    episode.rewards = values.to(torch::kFloat32);
    episode.dones = torch::zeros({t}, torch::kUInt8);
    episode.dones[t - 1] = 1;
    store->append(episode);
  }
  return store;
}

TEST(WindowSampler, WindowsEndOnTheSampledStepAndArePaddedBeforeTheEpisodeStart) {
  test::TempDir dir;
  auto store = make_store(dir.path(), {3, 8, 5});
  WindowSamplerOptions options;
  options.window = 4;
  options.batch = 64;
  WindowSampler sampler(store, options);
  const WindowBatch batch = sampler.sample();
  ASSERT_EQ(batch.observations.sizes(), (std::vector<int64_t>{64, 4, 2, 2, 3}));
  for (int64_t b = 0; b < 64; ++b) {
    const auto [episode, last] = sampler.last_origins()[b];
    for (int64_t k = 0; k < 4; ++k) {
      const int64_t step = last - 3 + k;
      const bool real = step >= 0;
      EXPECT_EQ(batch.mask[b][k].item<bool>(), real) << "episode " << episode << " last " << last << " k " << k;
      const int64_t expected = real ? 10 * episode + step : 0;
      EXPECT_EQ(batch.actions[b][k].item<int64_t>(), expected);
      EXPECT_EQ(batch.observations[b][k][1][1][2].item<uint8_t>(), expected);
      EXPECT_EQ(batch.rewards[b][k].item<float>(), static_cast<float>(expected));
      EXPECT_EQ(batch.dones[b][k].item<uint8_t>(), real && step == store->episode_length(episode) - 1 ? 1 : 0);
    }
    EXPECT_LT(last, store->episode_length(episode));
  }
}

TEST(WindowSampler, WithoutPaddingWindowsStartInsideTheirEpisodeUnlessItIsShorter) {
  test::TempDir dir;
  auto store = make_store(dir.path(), {3, 8, 5});
  WindowSamplerOptions options;
  options.window = 4;
  options.batch = 256;
  options.pad_before_start = false;
  WindowSampler sampler(store, options);
  const WindowBatch batch = sampler.sample();
  std::set<int64_t> lasts_of_long_episodes;
  for (int64_t b = 0; b < 256; ++b) {
    const auto [episode, last] = sampler.last_origins()[b];
    if (store->episode_length(episode) >= 4) {
      EXPECT_GE(last, 3);
      EXPECT_TRUE(batch.mask[b].all().item<bool>());
      lasts_of_long_episodes.insert(10 * episode + last);
    } else {
      EXPECT_EQ(last, 2) << "a 3-step episode gives its one longest window";
    }
  }
  EXPECT_EQ(lasts_of_long_episodes.size(), 5u + 2u) << "every allowed end of episodes 1 (3..7) and 2 (3..4) is drawn";
}

TEST(WindowSampler, UniformOverStepsAndRecentWeightingFavoursNewEpisodes) {
  test::TempDir dir;
  auto store = make_store(dir.path(), std::vector<int64_t>(10, 6));
  WindowSamplerOptions options;
  options.window = 2;
  options.batch = 2000;
  WindowSampler uniform(store, options);
  uniform.sample();
  int64_t newest_uniform = 0;
  for (const auto& o : uniform.last_origins()) newest_uniform += o.episode == 9;

  options.weighting = WindowSamplerOptions::Weighting::kRecent;
  options.recent_fraction = 0.1;
  options.recent_probability = 0.5;
  WindowSampler recent(store, options);
  recent.sample();
  int64_t newest_recent = 0;
  for (const auto& o : recent.last_origins()) newest_recent += o.episode == 9;
  // Uniform: 1/10 of the windows; recent: 1/2 + 1/2 * 1/10 = 55%.
  EXPECT_NEAR(newest_uniform / 2000.0, 0.10, 0.03);
  EXPECT_NEAR(newest_recent / 2000.0, 0.55, 0.05);
}

TEST(WindowSampler, PrefetchingGivesTheSameBatchesAsTheSampler) {
  test::TempDir dir;
  auto store = make_store(dir.path(), {9, 4, 12});
  WindowSamplerOptions options;
  options.window = 5;
  options.batch = 3;
  options.seed = 17;
  WindowSampler direct(store, options);
  PrefetchingSampler prefetching(WindowSampler(store, options), /*depth=*/3);
  for (int i = 0; i < 5; ++i) {
    const WindowBatch a = direct.sample();
    const WindowBatch b = prefetching.next();
    EXPECT_TRUE(torch::equal(a.observations, b.observations));
    EXPECT_TRUE(torch::equal(a.mask, b.mask));
  }
}

// Under data parallelism rank r of R draws the job's batches k * R + r: together the ranks draw
// one process's sequence, none twice, and a rank resumed at its step k continues it.
TEST(WindowSampler, RanksDrawOneProcessesBatchesInterleaved) {
  test::TempDir dir;
  auto store = make_store(dir.path(), {9, 4, 12, 7});
  WindowSamplerOptions options;
  options.window = 3;
  options.batch = 4;
  options.seed = 5;
  WindowSampler one(store, options);
  std::vector<WindowSampler> ranks;
  for (int64_t r = 0; r < 2; ++r) {
    WindowSamplerOptions rank_options = options;
    rank_options.rank = r;
    rank_options.ranks = 2;
    ranks.emplace_back(store, rank_options);
  }
  WindowSamplerOptions resumed_options = options;
  resumed_options.rank = 1, resumed_options.ranks = 2, resumed_options.first_batch = 2;
  WindowSampler resumed(store, resumed_options);
  std::vector<torch::Tensor> of_rank1;
  for (int k = 0; k < 4; ++k) {
    for (auto& rank : ranks) {
      const torch::Tensor expected = one.sample().observations;
      const torch::Tensor drawn = rank.sample().observations;
      EXPECT_TRUE(torch::equal(drawn, expected)) << "batch " << k;
      if (&rank == &ranks[1]) of_rank1.push_back(drawn);
    }
  }
  EXPECT_FALSE(torch::equal(of_rank1[0], of_rank1[1]));
  EXPECT_TRUE(torch::equal(resumed.sample().observations, of_rank1[2]));
  EXPECT_NE(test::error_of([&] {
              WindowSamplerOptions bad = options;
              bad.rank = 2, bad.ranks = 2;
              WindowSampler sampler(store, bad);
            }).find("rank 2 of 2 is not a rank of the job"),
            std::string::npos);
}

TEST(WindowSampler, AnEmptySourceIsAClearError) {
  test::TempDir dir;
  auto store = make_store(dir.path(), {});
  WindowSampler sampler(store, {});
  EXPECT_NE(test::error_of([&] { sampler.sample(); }).find("no episodes"), std::string::npos);
  PrefetchingSampler prefetching(WindowSampler(store, {}));
  EXPECT_NE(test::error_of([&] { prefetching.next(); }).find("no episodes"), std::string::npos);
}

}  // namespace
}  // namespace wm::dataloader
