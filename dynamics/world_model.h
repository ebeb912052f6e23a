// The learned simulator: a GPT over frame tokens and actions (DESIGN.md, sequence layout).
// Per step t the sequence holds the K tokens z_t^1..z_t^K of frame t, then one action token
// a_t. The hidden state at z_t^j predicts z_t^(j+1); the one at a_t predicts z_(t+1)^1, the
// reward r_t and whether the episode ends after step t.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <memory>

#include "core/loss_terms.h"
#include "dynamics/dynamics_options.h"
#include "dynamics/kv_cache.h"
#include "dynamics/reward_encoding.h"
#include "dynamics/rotary_embedding.h"

namespace wm::dynamics {

// B windows of L steps (a dataloader::WindowBatch of token grids, flattened).
struct DynamicsBatch {
  torch::Tensor tokens;   // int64 [B, L, K]
  torch::Tensor actions;  // int64 [B, L] (discrete) or float32 [B, L, A] (continuous)
  torch::Tensor rewards;  // float32 [B, L]
  torch::Tensor dones;    // uint8/bool [B, L]
  torch::Tensor mask;     // bool [B, L]: false on padding before an episode's start
};

// Sums over the next-frame tokens of held-out batches, split by whether the token changed
// from the previous frame's at the same place (where a world model earns its keep) or not:
// exact figures over many batches, where a mean of per-batch means would weigh a batch with
// few changed tokens like one with many.
struct NextFrameTally {
  double changed_nats = 0, changed_correct = 0, changed_count = 0;
  double unchanged_nats = 0, unchanged_correct = 0, unchanged_count = 0;
  NextFrameTally& operator+=(const NextFrameTally& other);
  // changed_bits, changed_accuracy, unchanged_bits, unchanged_accuracy, changed_share
  // (next_frame_ prefixed); a split without tokens is left out.
  std::vector<std::pair<std::string, double>> figures() const;
};

class WorldModelImpl : public torch::nn::Module {
 public:
  explicit WorldModelImpl(DynamicsOptions options);
  const DynamicsOptions& options() const { return options_; }

  // Embedding of whole steps: tokens [B, S, K], actions [B, S] / [B, S, A], the first
  // step's index in the window -> [B, S * (K + 1), C]. Token-by-token decoding with
  // previous_frame_input adds to each row the previous frame's token at the place that row
  // predicts: `previous_rows` int64 [B, S, K + 1] (autoregressive_previous), made from
  // `tokens` when not given (then the first step has no frame before it).
  torch::Tensor embed_steps(const torch::Tensor& tokens, const torch::Tensor& actions, int64_t first_step,
                            const torch::Tensor& previous_rows = {});
  // Frame tokens [B, n] of step `step`, starting at index `first` within the frame -> [B, n, C];
  // `previous` int64 [B, n]: those rows' previous-frame tokens (as embed_steps), -1 for none.
  torch::Tensor embed_tokens(const torch::Tensor& tokens, int64_t first, int64_t step, const torch::Tensor& previous = {});
  // The action token of step `step`: [B] / [B, A] -> [B, 1, C]; `previous` int64 [B]: the
  // token at place 0 of step `step`'s frame, the previous frame of the one the action row
  // predicts (previous_frame_input, token-by-token).
  torch::Tensor embed_action(const torch::Tensor& actions, int64_t step, const torch::Tensor& previous = {});

  // Token-by-token decoding: row j < K - 1 of step s predicts z_s^(j+1), whose previous-frame
  // token is z_(s-1)^(j+1); the action row predicts z_(s+1)^0, whose previous is z_s^0; row
  // K - 1 predicts no frame token. tokens [B, S, K], `before` [B, K] the frame before the
  // first (undefined: none) -> int64 [B, S, K + 1], -1 where there is no previous token.
  torch::Tensor autoregressive_previous(const torch::Tensor& tokens, const torch::Tensor& before = {}) const;
  // The frame place each of a step's K + 1 rows predicts (row K - 1's is unused): int64 [K + 1].
  torch::Tensor autoregressive_places() const;
  // The frame each of a step's K + 1 rows copies from (copy_gate, token-by-token): rows
  // 0..K-2 the frame before (`before` for the first step; none: -1), row K - 1 none, the
  // action row its own step's frame. tokens [B, S, K] -> int64 [B, S, K + 1, K].
  torch::Tensor autoregressive_copy_frames(const torch::Tensor& tokens, const torch::Tensor& before = {}) const;
  // copy_history: each place's tokens in the H = copy_history frames before frame s - back:
  // tokens [B, S, K] (-1: none) -> int64 [B, S, K, H], entry [b, s, k, h] = tokens[b, s -
  // back - h, k], -1 before the window. Undefined when copy_history is 0. A prediction of frame
  // s copies its previous frame s - 1 and these, back = 2.
  torch::Tensor place_history(const torch::Tensor& tokens, int64_t back) const;
  // The history candidates of a step's K + 1 rows (token-by-token): rows 0..K-2 predict frame
  // s's place j + 1 (history from frame s - 2 back), row K - 1 none, the action row frame s +
  // 1's place 0 (from frame s - 1 back). tokens [B, S, K] -> int64 [B, S, K + 1, H];
  // undefined when copy_history is 0.
  torch::Tensor autoregressive_copy_history(const torch::Tensor& tokens) const;

  // The transformer on embeddings [B, T, C] -> hidden states [B, T, C] (final LayerNorm
  // applied). With a cache, x holds the T positions after the cached ones.
  torch::Tensor transform(const torch::Tensor& x, KVCache* cache = nullptr);
  // Imagination's pass through the cache: x [B, R, C] enters it (after what it holds), then
  // frame queries [B, Q, C] at `query_positions` (undefined when none) read all of it. The
  // last layer computes outputs for rows [last_layer_output_from, R + Q) only — rows nothing
  // reads give keys and values and skip the attention and MLP there. -> those rows' hidden
  // states, final LayerNorm applied.
  torch::Tensor transform_cached(const torch::Tensor& x, const torch::Tensor& queries, const torch::Tensor& query_positions,
                                 KVCache& cache, int64_t last_layer_output_from = 0);
  // Adds x's keys and values to the cache; no outputs (priming, or a token nothing reads).
  void fill_cache(const torch::Tensor& x, KVCache& cache);

  // [..., C] -> [..., V], in the token head's dtype (a bf16 dream keeps it fp32: see
  // dream_model).
  torch::Tensor token_logits(const torch::Tensor& hidden);
  // The scores a token is sampled and trained from: token_logits, or with copy_gate the
  // mixture w_0 softmax(logits) + sum_m w_m [v == candidate m] as log-probabilities (valid
  // logits: softmax gives the mixture back). The candidates are the previous frame's tokens
  // at the predicted place and, with copy_radius, its neighbours; the weights come from the
  // hidden state and the place's biases. hidden [..., C]; previous_frame int64 [..., K] (the
  // frame each prediction copies from; -1 entries: none, all -1 gives the plain softmax);
  // places int64 [...] (0..K-1, the predicted place); with copy_history, `history` int64
  // [..., H]: the predicted place's tokens in the H frames before the previous one, newest
  // first (-1: none), candidates after the neighbourhood -> [..., V].
  torch::Tensor token_scores(const torch::Tensor& hidden, const torch::Tensor& previous_frame, const torch::Tensor& places,
                             const torch::Tensor& history = {});
  torch::nn::Linear& token_head() { return token_head_; }
  torch::Tensor reward_logits(const torch::Tensor& hidden);  // [..., C] -> [..., R]
  torch::Tensor done_logits(const torch::Tensor& hidden);    // [..., C] -> [...]
  const RewardEncoding& reward_encoding() const { return reward_encoding_; }

  // Next-token scores (token_scores) at every position of whole steps: [B, S * (K + 1), V].
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& actions);

  // Parallel decoding (options.decoding == parallel). The frame queries of steps first..first +
  // count - 1 (the K learned query embeddings with each step's position-in-frame and step
  // embeddings): [1, count * K, C], at positions [count * K] (query j of step s sits where
  // token z_s^j does, s * (K + 1) + j). With previous_frame_input, `previous` (int64 [B,
  // count, K], the frames before those steps; -1: none) adds each place's previous token:
  // [B, count * K, C].
  torch::Tensor embed_frame_queries(int64_t first_step, int64_t count, const torch::Tensor& previous = {});
  // The next frame's token scores (token_scores) from the frame queries' hidden states
  // [..., K, C], with `previous` [..., K] the frame before (needed with copy_gate) and, with
  // copy_history, `history` [..., K, H] (place_history with back = 2) -> [..., K, V].
  torch::Tensor next_frame_logits(const torch::Tensor& query_hidden, const torch::Tensor& previous = {}, const torch::Tensor& history = {});
  torch::Tensor frame_query_positions(int64_t first_step, int64_t count) const;
  // Whole steps [B, T, C] and frame queries [B, N, C] at `query_positions` (whole frames of K
  // queries, as embed_frame_queries makes them) in one pass: the steps attend causally among
  // themselves; each query sees the steps before its own (up to and including the previous
  // action), never another query. Final LayerNorm applied to both.
  struct StreamHidden {
    torch::Tensor steps, queries;
  };
  StreamHidden transform_with_queries(const torch::Tensor& x, const torch::Tensor& queries, const torch::Tensor& query_positions);
  // Frame queries [B, N, C] at `query_positions` against everything `cache` holds (all of it
  // visible); the cache is read, not written. -> hidden [B, N, C].
  torch::Tensor transform_queries(const torch::Tensor& queries, const torch::Tensor& query_positions, KVCache& cache);
  // Parallel-mode logits of frames 2..S from whole steps: [B, S - 1, K, V], frame t + 1's
  // predicted from frames and actions up to step t.
  torch::Tensor forward_parallel(const torch::Tensor& tokens, const torch::Tensor& actions);

  // Cross-entropy of the next frame tokens + reward loss + termination loss, masked; logs
  // token_bits (cross-entropy in bits/token), next_frame_bits and next_frame_accuracy (the
  // tokens of frames 2..L whose previous frame is real: predicted with the previous frame and
  // action in view, as imagination does), token_accuracy, reward_loss,
  // reward_accuracy, done_loss, done_accuracy; and next_frame_changed_* /
  // next_frame_unchanged_* (bits and accuracy on the next-frame tokens that differ from the
  // previous frame's at the same place, and on those that do not; 0 for a split the batch
  // lacks) with next_frame_changed_share. `tally`, when given, accumulates the split's sums.
  core::LossTerms compute_loss(const DynamicsBatch& batch, NextFrameTally* tally = nullptr);

  // Throws wm::core::Error naming the value and the limit: ids outside the vocabulary,
  // actions outside the action space, more steps than the context.
  void check_inputs(const torch::Tensor& tokens, const torch::Tensor& actions) const;

  // A cache for `batch` sequences of the whole context, on the model's device and dtype; the
  // packed bf16 layout for a bf16 model on a CPU that has the kernel, else head-major.
  KVCache make_cache(int64_t batch) const;
  KVCache make_cache(int64_t batch, KVLayout layout) const;
  // Parameters AdamW decays: the matrices of linear layers (not embeddings, norms, biases).
  std::vector<torch::Tensor> decayed_parameters();
  std::vector<torch::Tensor> other_parameters();

 private:
  void initialize_weights();
  // previous_token_embedding of ids [...] (-1: none, a zero row) -> [..., C].
  torch::Tensor previous_token_embedding(const torch::Tensor& previous);
  // Token-by-token decoding with previous_frame_input: the step rows carry the previous frame.
  bool steps_read_previous() const;
  // The copy gate needs a previous frame for each prediction (-1 entries allowed): a clear error otherwise.
  void check_previous(const torch::Tensor& previous_frame, c10::IntArrayRef predictions) const;
  // Where each place's copy candidates sit in the previous frame: int64 [K, S], the place
  // itself first, then its neighbours within copy_radius row by row (-1: outside the grid).
  torch::Tensor make_copy_places() const;
  // The candidates' tokens: previous_frame [..., K], places [...] -> int64 [..., S], -1 where none.
  torch::Tensor copy_candidates(const torch::Tensor& previous_frame, const torch::Tensor& places) const;
  // The token predictions a loss is computed from, whichever the decoding mode.
  struct TokenPredictions {
    torch::Tensor logits;          // [N, V]: one row per predicted token whose step is real
    torch::Tensor targets;         // int64 [N]
    torch::Tensor next_frame;      // bool [N]: the previous step is real too
    torch::Tensor previous;        // int64 [N]: the previous frame's token at the target's place (meaningful where next_frame)
    torch::Tensor action_hidden;   // [B, L, C]: hidden states at the action tokens
  };
  TokenPredictions autoregressive_predictions(const DynamicsBatch& batch);
  TokenPredictions parallel_predictions(const DynamicsBatch& batch);

  DynamicsOptions options_;
  RewardEncoding reward_encoding_;
  std::unique_ptr<RotaryEmbedding> rotary_;  // null unless options.rotary
  torch::nn::Embedding token_embedding_{nullptr}, position_embedding_{nullptr}, step_embedding_{nullptr};
  torch::nn::Embedding action_table_{nullptr};  // discrete actions
  torch::nn::Embedding frame_queries_{nullptr};  // parallel decoding: K query embeddings
  torch::nn::Embedding previous_token_embedding_{nullptr};  // previous_frame_input: [V, C]
  torch::nn::Linear copy_gate_{nullptr};                    // copy_gate: hidden -> S gate logits
  torch::nn::Embedding copy_gate_bias_{nullptr};            // copy_gate: gate biases per place and source, [K, S]
  torch::Tensor copy_places_;                               // copy_gate: make_copy_places(), on the CPU
  torch::nn::Linear action_projection_{nullptr};  // continuous actions
  torch::nn::Dropout embedding_dropout_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
  torch::nn::Linear token_head_{nullptr};
  torch::nn::Sequential reward_head_{nullptr}, done_head_{nullptr};
};
TORCH_MODULE(WorldModel);

}  // namespace wm::dynamics
