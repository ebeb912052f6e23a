// Hyperparameters of the dynamics model (the `dynamics:` config section). Stored in every
// dynamics checkpoint, so the model can be rebuilt from the checkpoint alone.
#pragma once

#include <cstdint>
#include <string>

#include "core/config_schema.h"

namespace wm::dynamics {

enum class RewardHead {
  kSign,    // 3 classes: negative, zero, positive (IRIS; Atari rewards are clipped anyway)
  kTwoHot,  // two-hot over symlog-spaced bins, regression of any scale (DreamerV3)
};

// How imagination produces the K tokens of the next frame.
enum class Decoding {
  // Token by token (IRIS): each token sees the ones before it in its frame; a frame costs K
  // passes over the KV cache.
  kAutoregressive,
  // The whole frame in one pass (REM's parallel observation prediction): K learned query
  // embeddings attend to everything up to and including the action, not to each other; the
  // sampled frame enters the cache with the next action, in the same pass as the next
  // frame's queries. One read of the cache per frame.
  kParallel,
};

struct DynamicsOptions {
  // What the sequence is made of (from the tokenizer and the environment).
  int64_t tokens_per_frame = 64;  // K: 8x8 tokens per frame
  // The token grid (h x w = K) the data has, row by row; 0: not known (older checkpoints).
  // The copy path reads the previous frame place by place, so a model trained on one grid
  // means nothing on another of the same K.
  int64_t grid_height = 0, grid_width = 0;
  int64_t vocab_size = 1024;      // V: the tokenizer's codebook
  int64_t num_actions = 0;        // discrete actions: the table size (> 0), else 0
  int64_t action_dim = 0;         // continuous actions: the vector length (> 0), else 0
  // The transformer.
  int64_t layers = 10;            // IRIS: 10 layers, width 256, 4 heads, 20 steps
  int64_t width = 256;
  int64_t heads = 4;
  // Key/value heads (grouped-query attention): each serves heads / kv_heads query heads, and
  // the KV cache shrinks by that factor. 0: as many as `heads` (plain multi-head attention).
  int64_t kv_heads = 0;
  int64_t context_steps = 20;     // L: the model sees L * (K + 1) positions (1300 at K = 64)
  double dropout = 0.1;            // on embeddings and residuals
  // On the attention probabilities. Off by default: any value above 0 takes the attention off
  // the fused kernel onto one that materialises [B, heads, T, T] and draws a mask for it (on
  // 2 CPU cores that doubled the driving model's training step, BENCHMARKS.md).
  double attention_dropout = 0.0;
  // Rotary position embedding in attention, on top of the learned position-in-step and step
  // embeddings: "the same place in the previous frame" becomes one relative offset.
  bool rotary = true;
  Decoding decoding = Decoding::kAutoregressive;
  // The previous frame where the model predicts (issue: real driving video is mostly the
  // previous frame again). previous_frame_input: each prediction of the token at place j of
  // frame t + 1 sees frame t's token at place j, an embedding added to the row that predicts
  // it (parallel: the frame query; token-by-token: the row before the token).
  // copy_gate: the prediction is a mixture, (1 - g) softmax(logits) + g [the previous token],
  // with g a learned gate from the hidden state and a per-place bias, so copying is one
  // scalar away from the start.
  bool previous_frame_input = false;
  bool copy_gate = false;
  // copy_gate: the previous frame's tokens within this many rows and columns of the predicted
  // place are copy candidates too, each with its own gate (0: the same place only; 1: the 3x3
  // neighbourhood — a scene that scrolls by a place per frame is a copy from a neighbour).
  int64_t copy_radius = 0;
  // copy_gate: the tokens at the predicted place in this many frames before the previous one
  // are copy candidates too, each with its own gate (0: none). Real footage flickers: on the
  // Udacity recording 52% of the held-out tokens that change take a value the same place held
  // in one of the 9 frames before the previous one (16% in the one just before it).
  int64_t copy_history = 0;
  // Heads.
  RewardHead reward_head = RewardHead::kSign;
  int64_t reward_bins = 255;      // two-hot bins over symlog(-20)..symlog(20)

  bool discrete_actions() const { return num_actions > 0; }
  int64_t key_value_heads() const { return kv_heads > 0 ? kv_heads : heads; }
  bool reads_previous_frame() const { return previous_frame_input || copy_gate; }
  int64_t neighbourhood_sources() const { return (2 * copy_radius + 1) * (2 * copy_radius + 1); }  // the previous frame's candidates
  int64_t copy_sources() const { return neighbourhood_sources() + copy_history; }  // S: copy candidates per prediction
  std::string grid_text() const;  // "8x16", or "unknown"
  int64_t positions_per_step() const { return tokens_per_frame + 1; }
  int64_t max_positions() const { return context_steps * positions_per_step(); }
  // Throws wm::core::Error naming the value when the options cannot build a model.
  void validate() const;
};

void describe(core::ConfigSchema& schema, DynamicsOptions& dynamics);

}  // namespace wm::dynamics
