// Batched imagination in the learned simulator: B trajectories advance one environment step
// per call, all at once, through one KV cache.
//
//   Imagination dream(model, /*batch=*/32, sampling);
//   dream.reset(context_tokens, context_actions);  // real frames prime the cache
//   for (t = 0; t < horizon; ++t) {
//     ImaginedStep s = dream.step(policy_actions);   // next frame tokens, reward, done
//   }
//
// step() feeds the action token a_t, reads the reward and termination of step t from its
// hidden state (as trained), then samples the K tokens of frame t + 1 one by one, each fed
// back through the cache.
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
#include <vector>

#include "dynamics/kv_cache.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

struct SamplingOptions {
  double temperature = 1.0;  // 0: always the most likely token
  int64_t top_k = 0;         // > 0: sample among the k most likely tokens only
};

struct ImaginedStep {
  at::Tensor tokens;       // int64 [B, K]: frame t + 1
  at::Tensor rewards;      // float32 [B]: r_t as the reward head reads it
  at::Tensor dones;        // bool [B]: the episode ends after step t
  at::Tensor done_probs;   // float32 [B]
};

class Imagination {
 public:
  Imagination(WorldModel model, int64_t batch, SamplingOptions sampling = {});

  // tokens int64 [B, T0, K] (1 <= T0 < L): the last T0 real frames; actions [B, T0 - 1] /
  // [B, T0 - 1, A]: the actions taken between them.
  void reset(const at::Tensor& tokens, const at::Tensor& actions);
  // actions [B] / [B, A]: taken after the latest frame.
  ImaginedStep step(const at::Tensor& actions);

  int64_t steps_in_cache() const { return steps_; }
  const KVCache& cache() const { return cache_; }

 private:
  at::Tensor sample(const at::Tensor& logits);  // [B, V] -> [B]
  void prime(const at::Tensor& tokens, const at::Tensor& actions);

  WorldModel model_;
  int64_t batch_;
  SamplingOptions sampling_;
  KVCache cache_;
  int64_t steps_ = 0;            // frames in the cache (the last one without its action yet)
  std::vector<at::Tensor> frames_;   // [B, K] per step in the cache, for rebuilding
  std::vector<at::Tensor> actions_;  // [B] / [B, A] per step in the cache but the last
};

}  // namespace wm::dynamics
