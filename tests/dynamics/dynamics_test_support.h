// Small world models and a synthetic action-dependent dynamics for the dynamics tests.
#pragma once

#include <functional>
#include <string>

#include "core/metrics.h"
#include "dynamics/dynamics_trainer.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

// 2 layers of width 64, K = 4 tokens of 8, L = 6 steps: trains in seconds on a CPU.
DynamicsOptions small_dynamics_options(bool continuous = false);

// Windows of a token grid that rotates one place left or right per step with the action:
// discrete action 1 (continuous: first value > 0) shifts right, 0 (< 0) left. Reward: +1
// for a right shift, -1 for a left one. Done: the frame's first token is 0. Padding: the
// first `padded` steps of the first window are masked out.
DynamicsBatch shifting_batch(const DynamicsOptions& options, int64_t batch, uint64_t seed, int64_t padded = 0);

// The same frames and actions with harder targets: the reward is a scale read from the
// frame's first token (0, 0.5, 1, 2, 5, 10, 15 or 20) with the action's sign (+ right,
// - left), and the episode ends where the frame's first two tokens are equal.
DynamicsBatch graded_shifting_batch(const DynamicsOptions& options, int64_t batch, uint64_t seed, int64_t padded = 0);

// The recipe the learning tests train the shifting world with (model: small_dynamics_options
// with 4 layers). Copying a token from the previous frame, one place left or right as that
// step's action says, takes two hops of attention (find the action, then the token). With
// learned absolute positions only, 4 layers needed ~1200 steps; with rotary attention (the
// default) 300 pass, and 500 leave a margin.
DynamicsOptions shifting_world_model_options(bool continuous = false);
DynamicsTrainOptions shifting_world_training();

// Greedy imagination of `steps` steps from the first two frames of `b` (B = b's batch), the
// actions taken from b in turn, keeping beside it the window its cache holds (renumbered from
// step 0 after each rebuild). After each step, `check(step, tokens [B, S, K], actions [B, S],
// dreamed [B, K])`: the window's frames ending with the dreamed one, and its actions ending
// with the one that led there, repeated as the last step's (which nothing before it reads).
// -> the number of cache rebuilds.
using DreamCheck = std::function<void(int64_t step, const torch::Tensor& tokens, const torch::Tensor& actions, const torch::Tensor& dreamed)>;
int64_t follow_greedy_dream(WorldModel model, const DynamicsBatch& b, int64_t steps, const DreamCheck& check);

// Token-by-token decoding: `dreamed` [B, K], the last of `tokens` [B, S, K], is the full
// pass's argmax over the window: token 0 from the action row before the frame, token j from
// the frame's row j - 1. A test failure naming the token otherwise.
void expect_token_by_token_argmax(WorldModel model, const torch::Tensor& tokens, const torch::Tensor& actions, const torch::Tensor& dreamed);

// The value logged under `name`; a test failure when there is none.
double scalar_named(const core::Scalars& scalars, const std::string& name);

}  // namespace wm::dynamics
