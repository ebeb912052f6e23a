// Batched imagination in the learned simulator: B trajectories advance one environment step
// per call, all at once, through one KV cache.
//
//   Imagination dream(model, /*batch=*/32, sampling);
//   dream.reset(context_tokens, context_actions);  // real frames prime the cache
//   for (t = 0; t < horizon; ++t) {
//     ImaginedStep s = dream.step(policy_actions);   // next frame tokens, reward, done
//   }
//
// How step() makes frame t + 1 follows the model's decoding mode (its checkpoint records it):
// - autoregressive: feed the action token a_t, read the reward and termination of step t from
//   its hidden state (as trained), then sample the K tokens of frame t + 1 one by one, each
//   fed back through the cache: K + 1 passes, each reading the whole cache.
// - parallel: one pass feeds frame t (sampled by the previous step, not yet in the cache) and
//   a_t into the cache and runs the K frame queries of step t + 1 against it; reward and
//   termination are read at a_t and all K tokens are sampled at once. Per layer, the cache is
//   read once per imagined frame instead of K + 1 times.
//
// The model dreams in eval mode (no dropout) whatever its mode, which is given back after
// each call; what step() returns is an ordinary tensor that autograd may save (a policy's
// loss uses imagined rewards and tokens), not an inference-mode one.
//
// When the context is full: the cache holds L steps. Before a step that would not fit, the
// cache is rebuilt from the last L/2 steps of the trajectory (tokens and actions kept
// aside), their step embeddings renumbered from 0 — the model was trained on windows that
// start anywhere in an episode, so a window's first step is step 0 whatever came before.
// Rebuilding costs one forward pass over L/2 steps every L/2 imagined steps, instead of one
// per step for a rolling window.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <vector>

#include "dynamics/kv_cache.h"
#include "dynamics/token_sampler.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

struct ImaginedStep {
  at::Tensor tokens;       // int64 [B, K]: frame t + 1
  at::Tensor rewards;      // float32 [B]: r_t as the reward head reads it
  at::Tensor dones;        // bool [B]: the episode ends after step t
  at::Tensor done_probs;   // float32 [B]
};

class Imagination {
 public:
  // `cache_layout`: the model's choice (WorldModel::make_cache) unless given.
  Imagination(WorldModel model, int64_t batch, SamplingOptions sampling = {}, std::optional<KVLayout> cache_layout = std::nullopt);

  // tokens int64 [B, T0, K] (1 <= T0 < L): the last T0 real frames; actions [B, T0 - 1] /
  // [B, T0 - 1, A]: the actions taken between them.
  void reset(const at::Tensor& tokens, const at::Tensor& actions);
  // actions [B] / [B, A]: taken after the latest frame.
  ImaginedStep step(const at::Tensor& actions);

  // The token draws from here on come from `seed` (see TokenSampler::reseed).
  void reseed(uint64_t seed) { sampler_.reseed(seed); }
  void set_temperature(double temperature) { sampler_.set_temperature(temperature); }
  int64_t steps_in_cache() const { return steps_; }
  const KVCache& cache() const { return cache_; }

 private:
  bool parallel() const { return model_->options().decoding == Decoding::kParallel; }
  void prime(const at::Tensor& tokens, const at::Tensor& actions);
  void rebuild_if_full(const at::Tensor& actions);
  // From the hidden state at a_t [B, C]: reward and termination of step t.
  void read_step_outcome(const at::Tensor& action_hidden, ImaginedStep& out);
  // Samples frame t + 1 token by token from the hidden state at a_t; `frame` [B, K] is frame t
  // (the copy path's previous frame). -> [B, K]
  at::Tensor next_frame_autoregressive(at::Tensor hidden, const at::Tensor& frame, int64_t t);
  // copy_history: the H frames before frame t (the newest of frames_), each place's tokens:
  // int64 [B, K, H], -1 before the window; undefined when copy_history is 0.
  at::Tensor history_before_previous() const;
  // Reads step t's outcome into `out` and returns frame t + 1 [B, K].
  at::Tensor step_parallel(const at::Tensor& actions, int64_t t, ImaginedStep& out);

  WorldModel model_;
  int64_t batch_;
  TokenSampler sampler_;
  KVCache cache_;
  // Frames of the trajectory since the last rebuild (the newest one last). Autoregressive:
  // all of them are in the cache; parallel: the newest one enters with the next action.
  int64_t steps_ = 0;
  std::vector<at::Tensor> frames_;   // [B, K] per step, for rebuilding
  std::vector<at::Tensor> actions_;  // [B] / [B, A] per step but the newest
};

}  // namespace wm::dynamics
