// Frames tokenized once (what `wm train all` trains the dynamics model and the policy from):
// every window reads the same tokens the tokenizer gives for its frames, with the episode's
// own actions, rewards and ends.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dataloader/episode_store.h"
#include "dataloader/window_sampler.h"
#include "envs/agent.h"
#include "envs/env_options.h"
#include "test_support.h"
#include "tokenizer/tokenizer_test_support.h"
#include "tools/collect_episodes.h"
#include "tools/tokenized_source.h"

namespace wm::tools {
namespace {

TEST(TokenizedSource, WindowsHoldTheTokenizersTokensAndTheEpisodesSteps) {
  test::TempDir dir;
  envs::EnvOptions env_options;
  env_options.num_envs = 2;
  env_options.height = env_options.width = 32;
  env_options.max_steps = 30;  // episodes of 30 steps or fewer: several of them, uneven lengths where one crashes
  auto env = envs::make_vector_env(env_options);
  auto store = std::make_shared<dataloader::EpisodeStore>(dir / "episodes", dataloader::EpisodeStore::Mode::kAppend);
  envs::RandomAgent random(env->action_space(), env->size(), 3);
  collect_episodes(*env, random, *store, 200, 3, {}, /*progress_bar=*/false);
  ASSERT_GE(store->num_episodes(), 3);

  torch::manual_seed(0);
  tokenizer::VQModel model(tokenizer::small_options());
  model->eval();
  const TokenizedSource tokens(store, model);
  ASSERT_EQ(tokens.num_episodes(), store->num_episodes());
  for (int64_t e = 0; e < tokens.num_episodes(); ++e) EXPECT_EQ(tokens.episode_length(e), store->episode_length(e));
  EXPECT_EQ(tokens.observation_dtype(), torch::kShort);
  EXPECT_EQ(tokens.action_dim(), 0);
  EXPECT_EQ(tokens.discrete_action_count(), store->discrete_action_count());

  // The same windows (same seed) from both sources.
  dataloader::WindowSamplerOptions options;
  options.window = 6;
  options.batch = 5;
  options.seed = 11;
  dataloader::WindowSampler from_frames(store, options);
  dataloader::WindowSampler from_tokens(std::make_shared<TokenizedSource>(store, model), options);
  for (int draw = 0; draw < 3; ++draw) {
    const dataloader::WindowBatch f = from_frames.sample(), t = from_tokens.sample();
    const auto& s = f.observations.sizes();  // [B, L, H, W, 3]
    const torch::Tensor expected = model->encode(f.observations.reshape({s[0] * s[1], s[2], s[3], s[4]})).reshape({s[0], s[1], -1});
    const torch::Tensor mask = f.mask.unsqueeze(-1).expand_as(expected);
    EXPECT_TRUE(torch::equal(t.observations.reshape({s[0], s[1], -1}).to(torch::kInt64).masked_select(mask), expected.masked_select(mask)));
    EXPECT_TRUE(torch::equal(t.actions, f.actions));
    EXPECT_TRUE(torch::equal(t.rewards, f.rewards));
    EXPECT_TRUE(torch::equal(t.dones, f.dones));
    EXPECT_TRUE(torch::equal(t.mask, f.mask));
  }
}

}  // namespace
}  // namespace wm::tools
