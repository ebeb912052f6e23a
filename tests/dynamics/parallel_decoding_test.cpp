// Parallel next-frame decoding: frame queries see the past only (never another query, never
// their own frame or later), the cached path equals the full pass, and the mode survives a
// checkpoint.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "core/config.h"
#include "dynamics/dynamics_checkpoint.h"
#include "dynamics/dynamics_test_support.h"
#include "dynamics/imagination.h"
#include "test_support.h"

namespace wm::dynamics {
namespace {

// `copy`: the previous frame as the queries' input and the copy gate on their output, with
// the neighbours of a 2x2 grid and the two frames before as candidates.
WorldModel parallel_model(bool continuous = false, uint64_t seed = 0, bool rotary = true, bool copy = false) {
  torch::manual_seed(seed);
  DynamicsOptions options = small_dynamics_options(continuous);
  options.decoding = Decoding::kParallel;
  options.rotary = rotary;
  options.previous_frame_input = copy;
  options.copy_gate = copy;
  if (copy) {  // the 2x2 grid's neighbours as copy candidates too
    options.grid_height = options.grid_width = 2;
    options.copy_radius = 1;
    options.copy_history = 2;  // and the same place in the two frames before the previous one
  }
  WorldModel model(options);
  model->eval();
  return model;
}

TEST(ParallelDecoding, QueriesSeeOnlyEarlierStepsAndNeverEachOther) {
  for (bool copy : {false, true}) {
    SCOPED_TRACE(copy ? "with the copy path" : "plain");
    WorldModel model = parallel_model(false, 1, true, copy);
    const DynamicsBatch b = shifting_batch(model->options(), 2, 2);
    torch::NoGradGuard no_grad;
    const torch::Tensor before = model->forward_parallel(b.tokens, b.actions);  // [B, L-1, K, V]: frame s at index s-1

    // A token of frame 3 and the action of step 3: the predictions of frames 1..3 are those of
    // queries that must not see them; frame 4's must change (it sees both).
    torch::Tensor tokens = b.tokens.clone(), actions = b.actions.clone();
    tokens[0][3][2] = (tokens[0][3][2] + 1) % 8;
    actions[1][3] = 1 - actions[1][3];
    const torch::Tensor after = model->forward_parallel(tokens, actions);
    EXPECT_TRUE(torch::equal(after.narrow(1, 0, 3), before.narrow(1, 0, 3)));
    EXPECT_FALSE(torch::allclose(after.select(1, 3).select(0, 0), before.select(1, 3).select(0, 0)));
    EXPECT_FALSE(torch::allclose(after.select(1, 3).select(0, 1), before.select(1, 3).select(0, 1)));

    // Query j's own embedding changes only query j's predictions, at every step: no query
    // attends to another, of its frame or of any other.
    const int64_t j = 1, K = model->options().tokens_per_frame;
    // A random direction: a constant added to every channel would vanish in the LayerNorms.
    model->named_parameters()["frame_queries.weight"][j].add_(0.5 * torch::randn({model->options().width}));
    const torch::Tensor moved = model->forward_parallel(b.tokens, b.actions);
    for (int64_t other = 0; other < K; ++other) {
      if (other == j) {
        EXPECT_FALSE(torch::allclose(moved.select(2, other), before.select(2, other)));
      } else {
        EXPECT_TRUE(torch::equal(moved.select(2, other), before.select(2, other))) << "query " << other;
      }
    }
  }
}

// The cache path imagination takes (whole steps fed in, then the next step's queries against
// the cache) gives the full pass's logits for every frame, B = 3, with and without the copy
// path (the queries then carry the previous frame, and the scores are the gate's mixture).
TEST(ParallelDecoding, CachedQueriesMatchTheFullPassAtEveryStep) {
  for (bool continuous : {false, true})
  for (bool rotary : {false, true})
  for (bool copy : {false, true}) {
    WorldModel model = parallel_model(continuous, 3, rotary, copy);
    const auto& o = model->options();
    const DynamicsBatch b = shifting_batch(o, 3, 4);
    torch::NoGradGuard no_grad;
    const torch::Tensor full = model->forward_parallel(b.tokens, b.actions);  // [3, L-1, K, V]
    KVCache cache = model->make_cache(3);
    for (int64_t t = 0; t + 1 < o.context_steps; ++t) {
      model->transform(model->embed_steps(b.tokens.narrow(1, t, 1), b.actions.narrow(1, t, 1), t), &cache);
      const torch::Tensor previous = b.tokens.select(1, t);  // [3, K]
      const torch::Tensor queries = model->embed_frame_queries(t + 1, 1, previous.unsqueeze(1)).expand({3, -1, -1});
      const torch::Tensor history = copy ? model->place_history(b.tokens, 2).select(1, t + 1) : torch::Tensor();  // [3, K, H]
      const torch::Tensor logits =
          model->next_frame_logits(model->transform_queries(queries, model->frame_query_positions(t + 1, 1), cache), previous, history);
      EXPECT_EQ(cache.length(), (t + 1) * o.positions_per_step());
      EXPECT_TRUE(torch::allclose(logits, full.select(1, t), 1e-4, 1e-4))
          << "continuous " << continuous << ", rotary " << rotary << ", copy " << copy << ", frame " << t + 1 << ", max difference "
          << (logits - full.select(1, t)).abs().max().item<double>();
    }
  }
}

// Greedy parallel imagination, past two cache rebuilds: every frame is the full pass's argmax
// over the window the cache holds at that moment (renumbered from step 0 after a rebuild).
TEST(ParallelDecoding, GreedyImaginationIsTheFullPassArgmaxAcrossCacheRebuilds) {
  for (bool copy : {false, true}) {
    SCOPED_TRACE(copy ? "with the copy path" : "plain");
    WorldModel model = parallel_model(false, 5, true, copy);  // L = 6: rebuilt from the last 3 steps
    const DynamicsBatch b = shifting_batch(model->options(), 3, 6);
    const int64_t rebuilds = follow_greedy_dream(model, b, 10, [&](int64_t step, const torch::Tensor& tokens, const torch::Tensor& actions,
                                                                   const torch::Tensor& dreamed) {
      const torch::Tensor logits = model->forward_parallel(tokens, actions);  // [3, S - 1, K, V]: the last frame's queries never see it
      EXPECT_TRUE(torch::equal(dreamed, logits.select(1, -1).argmax(-1))) << "step " << step;
    });
    EXPECT_EQ(rebuilds, 2);
  }
}

TEST(ParallelDecoding, CheckpointRecordsTheModeAndRestoresTheSameLogits) {
  WorldModel model = parallel_model(true, 7);
  test::TempDir dir;
  core::CheckpointWriter writer;
  add_dynamics(writer, model);
  writer.save(dir / "p.ckpt");
  const LoadedDynamics loaded = load_dynamics(dir / "p.ckpt", c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.model->options().decoding, Decoding::kParallel);
  const DynamicsBatch b = shifting_batch(model->options(), 2, 8);
  torch::NoGradGuard no_grad;
  WorldModel restored = loaded.model;
  EXPECT_TRUE(torch::equal(restored->forward_parallel(b.tokens, b.actions), model->forward_parallel(b.tokens, b.actions)));
}

TEST(ParallelDecoding, AnUnknownModeNamesTheKeyAndTheChoices) {
  DynamicsOptions options;
  core::ConfigSchema schema;
  {
    auto scope = schema.section("dynamics");
    describe(schema, options);
  }
  const std::string error = test::error_of([&] { core::load_config_text("dynamics:\n  decoding: maskgit\n", "test.yaml", schema); });
  EXPECT_NE(error.find("dynamics.decoding"), std::string::npos) << error;
  EXPECT_NE(error.find("ar|parallel"), std::string::npos) << error;
  EXPECT_NE(error.find("maskgit"), std::string::npos) << error;
}

}  // namespace
}  // namespace wm::dynamics
