#include "dynamics/world_model.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "dynamics/transformer_block.h"

namespace wm::dynamics {

namespace {

torch::nn::Sequential mlp_head(int64_t width, int64_t outputs) {
  return torch::nn::Sequential(torch::nn::Linear(width, width), torch::nn::GELU(), torch::nn::Linear(width, outputs));
}

std::string shape_text(const torch::Tensor& t) { return c10::str(t.sizes()); }

}  // namespace

WorldModelImpl::WorldModelImpl(DynamicsOptions options) : options_(std::move(options)), reward_encoding_((options_.validate(), options_)) {
  const int64_t C = options_.width;
  token_embedding_ = register_module("token_embedding", torch::nn::Embedding(options_.vocab_size, C));
  position_embedding_ = register_module("position_embedding", torch::nn::Embedding(options_.positions_per_step(), C));
  step_embedding_ = register_module("step_embedding", torch::nn::Embedding(options_.context_steps, C));
  if (options_.discrete_actions()) {
    action_table_ = register_module("action_table", torch::nn::Embedding(options_.num_actions, C));
  } else {
    // Continuous control: a projection of the action vector, not bins (IRIS's maintainers'
    // advice for continuous actions).
    action_projection_ = register_module("action_projection", torch::nn::Linear(options_.action_dim, C));
  }
  if (options_.decoding == Decoding::kParallel) {
    frame_queries_ = register_module("frame_queries", torch::nn::Embedding(options_.tokens_per_frame, C));
  }
  if (options_.previous_frame_input) {
    previous_token_embedding_ = register_module("previous_token_embedding", torch::nn::Embedding(options_.vocab_size, C));
  }
  if (options_.copy_gate) {
    const int64_t sources = options_.copy_sources();
    copy_gate_ = register_module("copy_gate", torch::nn::Linear(C, sources));
    copy_gate_bias_ = register_module("copy_gate_bias", torch::nn::Embedding(options_.tokens_per_frame, sources));
    copy_places_ = make_copy_places();
  }
  embedding_dropout_ = register_module("embedding_dropout", torch::nn::Dropout(options_.dropout));
  if (options_.rotary) rotary_ = std::make_unique<RotaryEmbedding>(C / options_.heads, options_.max_positions());
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t l = 0; l < options_.layers; ++l) blocks_->push_back(TransformerBlock(C, options_.heads, options_.key_value_heads(), options_.dropout,
                                                     options_.attention_dropout, rotary_.get()));
  final_norm_ = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
  token_head_ = register_module("token_head", torch::nn::Linear(torch::nn::LinearOptions(C, options_.vocab_size).bias(false)));
  reward_head_ = register_module("reward_head", mlp_head(C, reward_encoding_.classes()));
  done_head_ = register_module("done_head", mlp_head(C, 1));
  initialize_weights();
}

void WorldModelImpl::initialize_weights() {
  // GPT-2: N(0, 0.02) weights, zero biases, and the projections back into the residual
  // stream scaled by 1/sqrt(2 * layers) so the stream's variance does not grow with depth.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      linear->weight.normal_(0.0, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = module->as<torch::nn::Embedding>()) {
      embedding->weight.normal_(0.0, 0.02);
    }
  }
  // The copy gate starts with half the mass on the same place's previous token (S sources:
  // its bias log S against 0 for the softmax and the S - 1 neighbours and older frames, each
  // of which gets 1 / (2 S)): an unchanged token costs at most 1 bit from the first step, a
  // changed one about log2(2 S V) — the copy baseline's neighbourhood.
  if (copy_gate_) {
    copy_gate_->weight.zero_();
    copy_gate_->bias.zero_();
    copy_gate_bias_->weight.zero_();
    copy_gate_bias_->weight.select(1, 0).fill_(std::log(static_cast<double>(options_.copy_sources())));
  }
  const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(options_.layers));
  for (const auto& block : *blocks_) {
    auto* b = block->as<TransformerBlockImpl>();
    b->attention->proj->weight.normal_(0.0, residual_std);
    b->fc_proj->weight.normal_(0.0, residual_std);
  }
}

void WorldModelImpl::check_inputs(const torch::Tensor& tokens, const torch::Tensor& actions) const {
  if (tokens.numel() > 0) {
    const int64_t low = tokens.min().item<int64_t>(), high = tokens.max().item<int64_t>();
    if (low < 0 || high >= options_.vocab_size) {
      throw core::Error("dynamics: token id " + std::to_string(low < 0 ? low : high) + " is outside the vocabulary 0.." +
                        std::to_string(options_.vocab_size - 1));
    }
  }
  if (options_.discrete_actions()) {
    if (actions.is_floating_point()) throw core::Error("dynamics: discrete actions must be integers, got " + std::string(c10::toString(actions.scalar_type())));
    if (actions.numel() > 0) {
      const int64_t low = actions.min().item<int64_t>(), high = actions.max().item<int64_t>();
      if (low < 0 || high >= options_.num_actions) {
        throw core::Error("dynamics: action " + std::to_string(low < 0 ? low : high) + " is outside the action space 0.." +
                          std::to_string(options_.num_actions - 1));
      }
    }
  } else if (actions.size(-1) != options_.action_dim) {
    throw core::Error("dynamics: actions have " + std::to_string(actions.size(-1)) + " values, the model takes " +
                      std::to_string(options_.action_dim) + " (shape " + shape_text(actions) + ")");
  }
  if (tokens.dim() == 3 && tokens.size(1) > options_.context_steps) {
    throw core::Error("dynamics: " + std::to_string(tokens.size(1)) + " steps exceed the context of " +
                      std::to_string(options_.context_steps) + " steps");
  }
  if (tokens.dim() == 3 && tokens.size(2) != options_.tokens_per_frame) {
    throw core::Error("dynamics: frames have " + std::to_string(tokens.size(2)) + " tokens, the model takes " +
                      std::to_string(options_.tokens_per_frame));
  }
}

torch::Tensor WorldModelImpl::previous_token_embedding(const torch::Tensor& previous) {
  const torch::Tensor seen = previous >= 0;
  return previous_token_embedding_(previous.clamp_min(0)) * seen.unsqueeze(-1).to(previous_token_embedding_->weight.scalar_type());
}

// Token-by-token decoding reads the previous frame through the rows' inputs; parallel decoding
// through its frame queries (embed_frame_queries), never the step rows.
bool WorldModelImpl::steps_read_previous() const { return options_.previous_frame_input && options_.decoding == Decoding::kAutoregressive; }

torch::Tensor WorldModelImpl::embed_action(const torch::Tensor& actions, int64_t step, const torch::Tensor& previous) {
  const torch::Tensor base = options_.discrete_actions() ? action_table_(actions.to(torch::kInt64))
                                                         : action_projection_(actions.to(token_embedding_->weight.scalar_type()));
  torch::Tensor x = base + position_embedding_->weight[options_.tokens_per_frame] + step_embedding_->weight[step];  // [B, C]
  if (steps_read_previous()) {
    if (!previous.defined() || previous.dim() != 1 || previous.size(0) != x.size(0)) {
      throw core::Error("dynamics: the action row needs its frame's first token [" + std::to_string(x.size(0)) + "] (previous_frame_input), got " +
                        (previous.defined() ? shape_text(previous) : "none"));
    }
    x = x + previous_token_embedding(previous);
  }
  return x.unsqueeze(1);  // [B, 1, C]
}

torch::Tensor WorldModelImpl::embed_tokens(const torch::Tensor& tokens, int64_t first, int64_t step, const torch::Tensor& previous) {
  const int64_t count = tokens.size(1);
  torch::Tensor x = token_embedding_(tokens) + position_embedding_->weight.narrow(0, first, count) + step_embedding_->weight[step];
  if (!steps_read_previous()) return x;
  if (!previous.defined() || previous.sizes() != tokens.sizes()) {
    throw core::Error("dynamics: frame rows " + shape_text(tokens) + " need their previous-frame tokens of the same shape (previous_frame_input), got " +
                      (previous.defined() ? shape_text(previous) : "none"));
  }
  return x + previous_token_embedding(previous);
}

torch::Tensor WorldModelImpl::embed_steps(const torch::Tensor& tokens, const torch::Tensor& actions, int64_t first_step,
                                          const torch::Tensor& previous_rows) {
  const int64_t B = tokens.size(0), S = tokens.size(1), K = options_.tokens_per_frame, C = options_.width;
  const torch::Tensor frame = token_embedding_(tokens);  // [B, S, K, C]
  const torch::Tensor action = options_.discrete_actions() ? action_table_(actions.to(torch::kInt64))
                                                           : action_projection_(actions.to(frame.scalar_type()));  // [B, S, C]
  torch::Tensor steps = torch::cat({frame, action.unsqueeze(2)}, 2);  // [B, S, K + 1, C]
  if (steps_read_previous()) {
    const torch::Tensor rows = previous_rows.defined() ? previous_rows : autoregressive_previous(tokens);
    if (rows.sizes() != c10::IntArrayRef({B, S, K + 1})) {
      throw core::Error("dynamics: whole steps " + shape_text(tokens) + " need previous-frame rows [" + std::to_string(B) + ", " +
                        std::to_string(S) + ", " + std::to_string(K + 1) + "], got " + shape_text(rows));
    }
    steps = steps + previous_token_embedding(rows);
  }
  const torch::Tensor position = position_embedding_->weight.view({1, 1, K + 1, C});
  const torch::Tensor step = step_embedding_->weight.narrow(0, first_step, S).view({1, S, 1, C});
  return (steps + position + step).view({B, S * (K + 1), C});
}

torch::Tensor WorldModelImpl::autoregressive_previous(const torch::Tensor& tokens, const torch::Tensor& before) const {
  const int64_t B = tokens.size(0), S = tokens.size(1), K = options_.tokens_per_frame;
  const torch::Tensor none = torch::full({B, 1, K}, -1, tokens.options().dtype(torch::kInt64));
  const torch::Tensor first_before = before.defined() ? before.to(torch::kInt64).view({B, 1, K}) : none;
  const torch::Tensor frame_before = torch::cat({first_before, tokens.narrow(1, 0, S - 1).to(torch::kInt64)}, 1);  // [B, S, K]
  // Row j < K - 1: the previous frame's token j + 1; row K - 1: none; the action row: this
  // step's own token 0 (the previous frame of the next step's first token).
  return torch::cat({frame_before.narrow(2, 1, K - 1), none.narrow(2, 0, 1).expand({B, S, 1}), tokens.narrow(2, 0, 1).to(torch::kInt64)}, 2);
}

torch::Tensor WorldModelImpl::autoregressive_places() const {
  const int64_t K = options_.tokens_per_frame;
  const auto device = token_embedding_->weight.device();
  const torch::Tensor within = torch::arange(1, K, torch::TensorOptions().dtype(torch::kInt64).device(device));
  return torch::cat({within, torch::zeros({2}, within.options())});  // [K + 1]: 1..K-1, then 0 (unused), 0 (the action row)
}

torch::Tensor WorldModelImpl::transform(const torch::Tensor& x, KVCache* cache) {
  if (cache != nullptr) return transform_cached(x, /*queries=*/{}, /*query_positions=*/{}, *cache);
  torch::Tensor h = embedding_dropout_(x);
  for (const auto& block : *blocks_) h = block->as<TransformerBlockImpl>()->forward(h);
  return final_norm_(h);
}

torch::Tensor WorldModelImpl::transform_cached(const torch::Tensor& x, const torch::Tensor& queries, const torch::Tensor& query_positions,
                                               KVCache& cache, int64_t last_layer_output_from) {
  torch::Tensor h = embedding_dropout_(queries.defined() ? torch::cat({x, queries}, 1) : x);
  CachedRows rows{.real_rows = x.size(1), .query_positions = query_positions};
  const int64_t last = options_.layers - 1;
  int64_t layer = 0;
  for (const auto& block : *blocks_) {
    if (layer == last) rows.output_from = last_layer_output_from;
    h = block->as<TransformerBlockImpl>()->forward_cached(h, rows, cache, layer++);
  }
  cache.advance(x.size(1));
  return h.size(1) > 0 ? final_norm_(h) : h;
}

void WorldModelImpl::fill_cache(const torch::Tensor& x, KVCache& cache) {
  transform_cached(x, /*queries=*/{}, /*query_positions=*/{}, cache, /*last_layer_output_from=*/x.size(1));
}

torch::Tensor WorldModelImpl::token_logits(const torch::Tensor& hidden) {
  const auto dtype = token_head_->weight.scalar_type();
  return token_head_(hidden.scalar_type() == dtype ? hidden : hidden.to(dtype));
}
torch::Tensor WorldModelImpl::reward_logits(const torch::Tensor& hidden) { return reward_head_->forward(hidden); }
torch::Tensor WorldModelImpl::done_logits(const torch::Tensor& hidden) { return done_head_->forward(hidden).squeeze(-1); }

torch::Tensor WorldModelImpl::make_copy_places() const {
  const int64_t K = options_.tokens_per_frame, R = options_.copy_radius;
  // Without a grid only the same place (R = 0; validate() refuses R > 0 without one).
  const int64_t h = R > 0 ? options_.grid_height : 1, w = R > 0 ? options_.grid_width : K;
  std::vector<int64_t> table;
  for (int64_t place = 0; place < K; ++place) {
    const int64_t row = place / w, column = place % w;
    table.push_back(place);  // the same place first: the gate's first source
    for (int64_t dr = -R; dr <= R; ++dr) {
      for (int64_t dc = -R; dc <= R; ++dc) {
        if (dr == 0 && dc == 0) continue;
        const int64_t r = row + dr, c = column + dc;
        table.push_back(r >= 0 && r < h && c >= 0 && c < w ? r * w + c : -1);
      }
    }
  }
  return torch::tensor(table, torch::kInt64).view({K, options_.neighbourhood_sources()});
}

torch::Tensor WorldModelImpl::copy_candidates(const torch::Tensor& previous_frame, const torch::Tensor& places) const {
  const int64_t S = options_.neighbourhood_sources();
  const torch::Tensor table = copy_places_.to(places.device()).index_select(0, places.reshape({-1}));  // [N, S]
  std::vector<int64_t> shape(places.sizes().begin(), places.sizes().end());
  shape.push_back(S);
  const torch::Tensor where = table.view(shape);                                                     // [..., S]
  const torch::Tensor tokens = previous_frame.to(torch::kInt64).gather(-1, where.clamp_min(0));      // [..., S]
  return tokens.masked_fill(where < 0, -1);
}

torch::Tensor WorldModelImpl::token_scores(const torch::Tensor& hidden, const torch::Tensor& previous_frame, const torch::Tensor& places,
                                          const torch::Tensor& history) {
  const torch::Tensor logits = token_logits(hidden);  // [..., V]
  if (!options_.copy_gate) return logits;
  const auto predictions = logits.sizes().slice(0, logits.dim() - 1);
  check_previous(previous_frame, predictions);
  // p = w_0 softmax(logits) + sum_m w_m [v == candidate m], the weights a softmax over
  // (0, gate_1 .. gate_S): candidate m is the previous frame's token at the m-th place of the
  // predicted place's neighbourhood (the same place first), then with copy_history the
  // predicted place's tokens in the frames before. A candidate that is not there (outside the
  // grid, or no such frame) gets no weight: with none, the plain softmax.
  torch::Tensor candidates = copy_candidates(previous_frame, places);  // [..., S]
  if (options_.copy_history > 0) {
    std::vector<int64_t> wanted(predictions.begin(), predictions.end());
    wanted.push_back(options_.copy_history);
    if (!history.defined() || history.sizes() != c10::IntArrayRef(wanted)) {
      throw core::Error("dynamics: copy_history needs each prediction's earlier tokens at its place " + c10::str(c10::IntArrayRef(wanted)) + ", got " +
                        (history.defined() ? shape_text(history) : "none"));
    }
    candidates = torch::cat({candidates, history.to(torch::kInt64)}, -1);
  }
  const torch::Tensor gates = (copy_gate_(hidden) + copy_gate_bias_(places)).to(logits.scalar_type()).masked_fill(
      candidates < 0, -std::numeric_limits<float>::infinity());                                 // [..., S]
  const torch::Tensor log_weights = torch::log_softmax(torch::cat({torch::zeros_like(gates.narrow(-1, 0, 1)), gates}, -1), -1);  // [..., 1 + S]
  const torch::Tensor from_softmax = torch::log_softmax(logits, -1) + log_weights.narrow(-1, 0, 1);
  // The copies' mass per token (candidates naming the same token add up), in log space; log
  // of an exact 0 would give NaN gradients, so those entries are -inf by a mask instead.
  const torch::Tensor copy_mass =
      torch::zeros_like(from_softmax).scatter_add(-1, candidates.clamp_min(0), log_weights.narrow(-1, 1, candidates.size(-1)).exp());
  const torch::Tensor copy_log = torch::log(copy_mass.clamp_min(std::numeric_limits<float>::min())).masked_fill(copy_mass <= 0,
                                                                                                                 -std::numeric_limits<float>::infinity());
  return torch::logaddexp(from_softmax, copy_log);
}

void WorldModelImpl::check_previous(const torch::Tensor& previous_frame, c10::IntArrayRef predictions) const {
  std::vector<int64_t> wanted(predictions.begin(), predictions.end());
  wanted.push_back(options_.tokens_per_frame);
  if (!previous_frame.defined() || previous_frame.sizes() != c10::IntArrayRef(wanted)) {
    throw core::Error("dynamics: the copy gate needs each prediction's previous frame " + c10::str(c10::IntArrayRef(wanted)) + ", got " +
                      (previous_frame.defined() ? shape_text(previous_frame) : "none"));
  }
}

torch::Tensor WorldModelImpl::forward(const torch::Tensor& tokens, const torch::Tensor& actions) {
  const int64_t B = tokens.size(0), S = tokens.size(1), K = options_.tokens_per_frame;
  const torch::Tensor hidden = transform(embed_steps(tokens, actions, 0, autoregressive_previous(tokens)));
  if (!options_.copy_gate) return token_logits(hidden);
  const torch::Tensor places = autoregressive_places().view({1, 1, K + 1}).expand({B, S, K + 1});
  const torch::Tensor history = autoregressive_copy_history(tokens);  // [B, S, K + 1, H] or undefined
  return token_scores(hidden, autoregressive_copy_frames(tokens).view({B, S * (K + 1), K}), places.reshape({B, S * (K + 1)}),
                      history.defined() ? history.view({B, S * (K + 1), -1}) : history);
}

torch::Tensor WorldModelImpl::autoregressive_copy_frames(const torch::Tensor& tokens, const torch::Tensor& before) const {
  const int64_t B = tokens.size(0), S = tokens.size(1), K = options_.tokens_per_frame;
  const torch::Tensor ids = tokens.to(torch::kInt64);
  const torch::Tensor none = torch::full({B, 1, K}, -1, ids.options());
  const torch::Tensor first_before = before.defined() ? before.to(torch::kInt64).view({B, 1, K}) : none;
  const torch::Tensor frame_before = torch::cat({first_before, ids.narrow(1, 0, S - 1)}, 1);  // [B, S, K]
  // Rows 0..K-2 copy from the frame before, row K - 1 predicts no frame token, the action row
  // copies from its own step's frame.
  return torch::cat({frame_before.unsqueeze(2).expand({B, S, K - 1, K}), none.unsqueeze(2).expand({B, S, 1, K}), ids.unsqueeze(2)}, 2);
}

torch::Tensor WorldModelImpl::place_history(const torch::Tensor& tokens, int64_t back) const {
  const int64_t H = options_.copy_history;
  if (H == 0) return {};
  const int64_t B = tokens.size(0), S = tokens.size(1), K = tokens.size(2);
  // Padded with back + H - 1 frames of -1 in front, step s - back - h sits at s + H - 1 - h.
  const torch::Tensor ids = tokens.to(torch::kInt64);
  const torch::Tensor padded = torch::cat({torch::full({B, back + H - 1, K}, -1, ids.options()), ids}, 1);  // [B, S + back + H - 1, K]
  std::vector<torch::Tensor> frames;
  for (int64_t h = 0; h < H; ++h) frames.push_back(padded.narrow(1, H - 1 - h, S));
  return torch::stack(frames, -1);  // [B, S, K, H]
}

torch::Tensor WorldModelImpl::autoregressive_copy_history(const torch::Tensor& tokens) const {
  const int64_t H = options_.copy_history;
  if (H == 0) return {};
  const int64_t B = tokens.size(0), S = tokens.size(1), K = options_.tokens_per_frame;
  const torch::Tensor frame_rows = place_history(tokens, 2).narrow(2, 1, K - 1);  // [B, S, K - 1, H]: places 1..K-1 of frame s
  const torch::Tensor action_row = place_history(tokens, 1).narrow(2, 0, 1);      // [B, S, 1, H]: place 0 of frame s + 1
  return torch::cat({frame_rows, torch::full({B, S, 1, H}, -1, frame_rows.options()), action_row}, 2);
}

torch::Tensor WorldModelImpl::embed_frame_queries(int64_t first_step, int64_t count, const torch::Tensor& previous) {
  const int64_t K = options_.tokens_per_frame, C = options_.width;
  const torch::Tensor per_token = frame_queries_->weight + position_embedding_->weight.narrow(0, 0, K);  // [K, C]
  const torch::Tensor step = step_embedding_->weight.narrow(0, first_step, count).unsqueeze(1);        // [count, 1, C]
  const torch::Tensor queries = (per_token.unsqueeze(0) + step).view({1, count * K, C});
  if (!options_.previous_frame_input) return queries;
  if (!previous.defined() || previous.dim() != 3 || previous.size(1) != count || previous.size(2) != K) {
    throw core::Error("dynamics: the frame queries of " + std::to_string(count) + " steps need their previous frames [B, " +
                      std::to_string(count) + ", " + std::to_string(K) + "], got " + (previous.defined() ? shape_text(previous) : "none"));
  }
  return queries + previous_token_embedding(previous).view({previous.size(0), count * K, C});
}

torch::Tensor WorldModelImpl::next_frame_logits(const torch::Tensor& query_hidden, const torch::Tensor& previous, const torch::Tensor& history) {
  if (!options_.copy_gate) return token_logits(query_hidden);
  const int64_t K = options_.tokens_per_frame;
  const auto predictions = query_hidden.sizes().slice(0, query_hidden.dim() - 1);  // [..., K]
  if (!previous.defined() || previous.sizes() != predictions) {
    throw core::Error("dynamics: the copy gate needs the previous frame's tokens shaped like the predictions " + c10::str(predictions) +
                      ", got " + (previous.defined() ? shape_text(previous) : "none"));
  }
  std::vector<int64_t> frames(predictions.begin(), predictions.end());
  frames.push_back(K);
  const torch::Tensor places = torch::arange(K, torch::TensorOptions().dtype(torch::kInt64).device(query_hidden.device())).expand(predictions);
  return token_scores(query_hidden, previous.unsqueeze(-2).expand(frames), places, history);  // each query copies from the whole previous frame
}

torch::Tensor WorldModelImpl::frame_query_positions(int64_t first_step, int64_t count) const {
  const int64_t K = options_.tokens_per_frame, P = options_.positions_per_step();
  const auto device = token_embedding_->weight.device();
  const torch::Tensor steps = torch::arange(first_step, first_step + count, torch::TensorOptions().dtype(torch::kInt64).device(device));
  return (steps.unsqueeze(1) * P + torch::arange(K, torch::TensorOptions().dtype(torch::kInt64).device(device))).view({-1});
}

WorldModelImpl::StreamHidden WorldModelImpl::transform_with_queries(const torch::Tensor& x, const torch::Tensor& queries,
                                                                    const torch::Tensor& query_positions) {
  const int64_t K = options_.tokens_per_frame, P = options_.positions_per_step();
  // Queries come a frame (K rows) at a time; the frame of step s sees the steps before it,
  // keys at positions < s * P.
  const torch::Tensor first_positions = query_positions.view({-1, K}).select(1, 0).to(torch::kCPU).contiguous();  // one per frame
  std::vector<int64_t> visible_keys;
  for (const int64_t position : c10::ArrayRef<int64_t>(first_positions.data_ptr<int64_t>(), first_positions.numel())) {
    visible_keys.push_back(position / P * P);
  }
  torch::Tensor h = embedding_dropout_(x), q = embedding_dropout_(queries.expand({x.size(0), -1, -1}));
  for (const auto& module : *blocks_) {
    auto* block = module->as<TransformerBlockImpl>();
    KeysValues made;
    h = block->forward(h, &made);
    q = block->forward_queries(q, query_positions, made, visible_keys);
  }
  return {final_norm_(h), final_norm_(q)};
}

torch::Tensor WorldModelImpl::transform_queries(const torch::Tensor& queries, const torch::Tensor& query_positions, KVCache& cache) {
  const torch::Tensor none = queries.new_empty({queries.size(0), 0, queries.size(2)});
  return transform_cached(none, queries, query_positions, cache);
}

torch::Tensor WorldModelImpl::forward_parallel(const torch::Tensor& tokens, const torch::Tensor& actions) {
  const int64_t B = tokens.size(0), S = tokens.size(1), K = options_.tokens_per_frame;
  const torch::Tensor previous = tokens.narrow(1, 0, S - 1);  // [B, S - 1, K]: the frame before each predicted one
  const StreamHidden hidden =
      transform_with_queries(embed_steps(tokens, actions, 0), embed_frame_queries(1, S - 1, previous), frame_query_positions(1, S - 1));
  const torch::Tensor history = options_.copy_history > 0 ? place_history(tokens, 2).narrow(1, 1, S - 1) : torch::Tensor();  // [B, S - 1, K, H]
  return next_frame_logits(hidden.queries.view({B, S - 1, K, options_.width}), previous, history);
}

WorldModelImpl::TokenPredictions WorldModelImpl::autoregressive_predictions(const DynamicsBatch& batch) {
  const int64_t B = batch.tokens.size(0), L = batch.tokens.size(1), K = options_.tokens_per_frame, C = options_.width;
  const torch::Tensor mask = batch.mask.to(torch::kBool);
  // Frames 2..L: the previous frame and action are in view (what imagination relies on);
  // the previous step must be real too. Where it is not, a row reads no previous token (as
  // a dream's first frame does not).
  const torch::Tensor previous_real = torch::cat({torch::zeros_like(mask.narrow(1, 0, 1)), mask.narrow(1, 0, L - 1)}, 1);  // [B, L]
  torch::Tensor rows = autoregressive_previous(batch.tokens);  // [B, L, K + 1]
  // [B, L, K + 1]: whether each row reads a previous frame (the action row reads its own step's)
  const torch::Tensor row_reads = torch::cat({previous_real.unsqueeze(2).expand({B, L, K}), torch::ones_like(mask).unsqueeze(2)}, 2);
  rows = rows.masked_fill(row_reads.logical_not(), -1);
  const torch::Tensor hidden = transform(embed_steps(batch.tokens, batch.actions, 0, rows)).view({B, L, K + 1, C});

  // Next-token targets: within a frame (z_t^j -> z_t^(j+1)), and across steps (a_t ->
  // z_(t+1)^1). A target counts when its step is real.
  const torch::Tensor within_hidden = hidden.narrow(2, 0, K - 1).reshape({-1, C});            // [B*L*(K-1), C]
  const torch::Tensor within_target = batch.tokens.narrow(2, 1, K - 1).reshape({-1});
  const torch::Tensor within_mask = mask.unsqueeze(2).expand({B, L, K - 1}).reshape({-1});
  const torch::Tensor within_next_frame = previous_real.unsqueeze(2).expand({B, L, K - 1}).reshape({-1});
  const torch::Tensor across_hidden = hidden.narrow(1, 0, L - 1).select(2, K).reshape({-1, C});  // [B*(L-1), C]
  const torch::Tensor across_target = batch.tokens.narrow(1, 1, L - 1).select(2, 0).reshape({-1});
  const torch::Tensor across_mask = mask.narrow(1, 1, L - 1).reshape({-1});

  const torch::Tensor token_mask = torch::cat({within_mask, across_mask});
  const torch::Tensor across_next_frame = mask.narrow(1, 0, L - 1).reshape({-1});
  // The previous frame's token at each target's place: tokens shifted one step later (the
  // first step's, with no frame before it, is never a next-frame target).
  const torch::Tensor shifted = torch::cat({batch.tokens.narrow(1, 0, 1), batch.tokens.narrow(1, 0, L - 1)}, 1);  // [B, L, K]
  const torch::Tensor within_previous = shifted.narrow(2, 1, K - 1).reshape({-1});
  const torch::Tensor across_previous = batch.tokens.narrow(1, 0, L - 1).select(2, 0).reshape({-1});
  TokenPredictions p;
  p.next_frame = torch::cat({within_next_frame, across_next_frame}).masked_select(token_mask);
  p.previous = torch::cat({within_previous, across_previous}).index({token_mask});
  const torch::Tensor predicting = torch::cat({within_hidden, across_hidden}).index({token_mask});
  if (options_.copy_gate) {
    // The frame each prediction copies from (all -1 where its previous step is not real) and
    // the place it predicts.
    const torch::Tensor frames = autoregressive_copy_frames(batch.tokens).masked_fill(row_reads.logical_not().unsqueeze(3), -1);  // [B, L, K + 1, K]
    const torch::Tensor copied = torch::cat({frames.narrow(2, 0, K - 1).reshape({-1, K}), frames.narrow(1, 0, L - 1).select(2, K).reshape({-1, K})});
    const torch::Tensor places = autoregressive_places();
    const torch::Tensor row_places = torch::cat({places.narrow(0, 0, K - 1).repeat({B * L}), places[K].expand({B * (L - 1)})});
    // Older frames at each place, none from padding steps.
    torch::Tensor history = autoregressive_copy_history(batch.tokens.masked_fill(mask.logical_not().unsqueeze(2), -1));  // [B, L, K + 1, H]
    if (history.defined()) {
      history = torch::cat({history.narrow(2, 0, K - 1).reshape({-1, options_.copy_history}),
                            history.narrow(1, 0, L - 1).select(2, K).reshape({-1, options_.copy_history})})
                    .index({token_mask});
    }
    p.logits = token_scores(predicting, copied.index({token_mask}), row_places.index({token_mask}), history);  // [N, V]
  } else {
    p.logits = token_logits(predicting);  // [N, V]
  }
  p.targets = torch::cat({within_target, across_target}).index({token_mask});
  p.action_hidden = hidden.select(2, K);
  return p;
}

WorldModelImpl::TokenPredictions WorldModelImpl::parallel_predictions(const DynamicsBatch& batch) {
  const int64_t B = batch.tokens.size(0), L = batch.tokens.size(1), K = options_.tokens_per_frame, C = options_.width;
  const torch::Tensor mask = batch.mask.to(torch::kBool);
  const torch::Tensor target_real = mask.narrow(1, 1, L - 1).unsqueeze(2).expand({B, L - 1, K}).reshape({-1});      // [B*(L-1)*K]
  const torch::Tensor previous_real = mask.narrow(1, 0, L - 1).unsqueeze(2).expand({B, L - 1, K});                  // [B, L-1, K]
  // The frame queries of steps 1..L-1 predict those frames from the steps before them; the
  // steps themselves predict no tokens (their hidden states are context and the action's
  // reward and termination). Each query reads the frame before it, none where that step is
  // padding (as a dream's first frame has none).
  const torch::Tensor previous = batch.tokens.narrow(1, 0, L - 1).masked_fill(previous_real.logical_not(), -1);  // [B, L - 1, K]
  const StreamHidden hidden = transform_with_queries(embed_steps(batch.tokens, batch.actions, 0), embed_frame_queries(1, L - 1, previous),
                                                     frame_query_positions(1, L - 1));
  TokenPredictions p;
  const torch::Tensor real_tokens = batch.tokens.masked_fill(mask.logical_not().unsqueeze(2), -1);
  const torch::Tensor history = options_.copy_history > 0 ? place_history(real_tokens, 2).narrow(1, 1, L - 1) : torch::Tensor();  // [B, L - 1, K, H]
  p.logits = next_frame_logits(hidden.queries.view({B, L - 1, K, C}), previous, history).reshape({-1, options_.vocab_size}).index({target_real});  // [N, V]
  p.targets = batch.tokens.narrow(1, 1, L - 1).reshape({-1}).index({target_real});
  p.next_frame = previous_real.reshape({-1}).masked_select(target_real);
  p.previous = batch.tokens.narrow(1, 0, L - 1).reshape({-1}).index({target_real});
  p.action_hidden = hidden.steps.view({B, L, K + 1, C}).select(2, K);
  return p;
}

NextFrameTally& NextFrameTally::operator+=(const NextFrameTally& other) {
  changed_nats += other.changed_nats;
  changed_correct += other.changed_correct;
  changed_count += other.changed_count;
  unchanged_nats += other.unchanged_nats;
  unchanged_correct += other.unchanged_correct;
  unchanged_count += other.unchanged_count;
  return *this;
}

std::vector<std::pair<std::string, double>> NextFrameTally::figures() const {
  std::vector<std::pair<std::string, double>> out;
  const double bits = 1.0 / std::log(2.0);
  if (changed_count > 0) {
    out.emplace_back("next_frame_changed_bits", changed_nats / changed_count * bits);
    out.emplace_back("next_frame_changed_accuracy", changed_correct / changed_count);
  }
  if (unchanged_count > 0) {
    out.emplace_back("next_frame_unchanged_bits", unchanged_nats / unchanged_count * bits);
    out.emplace_back("next_frame_unchanged_accuracy", unchanged_correct / unchanged_count);
  }
  if (changed_count + unchanged_count > 0) out.emplace_back("next_frame_changed_share", changed_count / (changed_count + unchanged_count));
  return out;
}

core::LossTerms WorldModelImpl::compute_loss(const DynamicsBatch& batch, NextFrameTally* tally) {
  check_inputs(batch.tokens, batch.actions);
  const TokenPredictions p =
      options_.decoding == Decoding::kParallel ? parallel_predictions(batch) : autoregressive_predictions(batch);
  const torch::Tensor mask = batch.mask.to(torch::kBool);
  // Per-target cross-entropy once; the loss and the next-frame figure are both means of it.
  const torch::Tensor row_ce = torch::cross_entropy_loss(p.logits.to(torch::kFloat32), p.targets, /*weight=*/{}, at::Reduction::None);
  const torch::Tensor token_ce = row_ce.mean();

  // Reward and termination from the action tokens' hidden states.
  const torch::Tensor action_hidden = p.action_hidden.index({mask});  // [M, C]
  const torch::Tensor reward_logit = reward_logits(action_hidden).to(torch::kFloat32);
  const torch::Tensor reward_target = reward_encoding_.encode(batch.rewards.index({mask}));
  const torch::Tensor reward_loss = -(reward_target * torch::log_softmax(reward_logit, -1)).sum(-1).mean();
  const torch::Tensor done_logit = done_logits(action_hidden).to(torch::kFloat32);
  const torch::Tensor done_target = batch.dones.index({mask}).to(torch::kFloat32);
  const torch::Tensor done_loss = torch::binary_cross_entropy_with_logits(done_logit, done_target);

  core::LossTerms loss;
  loss.total = token_ce + reward_loss + done_loss;
  torch::NoGradGuard no_grad;
  const torch::Tensor correct = p.logits.argmax(-1) == p.targets;
  const torch::Tensor predicted_reward = reward_encoding_.decode(reward_logit);
  const torch::Tensor rewards = batch.rewards.index({mask}).to(torch::kFloat32);
  // Sign head: the class is right; two-hot: within 0.1 of the reward or 10% of it.
  const torch::Tensor reward_right = options_.reward_head == RewardHead::kSign
                                         ? predicted_reward == torch::sign(rewards)
                                         : (predicted_reward - rewards).abs() <= torch::maximum(0.1 * rewards.abs(), torch::full_like(rewards, 0.1));
  const torch::Tensor next_frame_ce = row_ce.masked_select(p.next_frame).mean();
  // The next-frame tokens split by whether they changed from the previous frame's.
  const torch::Tensor changed = (p.targets != p.previous) & p.next_frame, unchanged = (p.targets == p.previous) & p.next_frame;
  NextFrameTally batch_tally;
  batch_tally.changed_nats = row_ce.masked_select(changed).sum().item<double>();
  batch_tally.changed_correct = correct.masked_select(changed).sum().item<double>();
  batch_tally.changed_count = changed.sum().item<double>();
  batch_tally.unchanged_nats = row_ce.masked_select(unchanged).sum().item<double>();
  batch_tally.unchanged_correct = correct.masked_select(unchanged).sum().item<double>();
  batch_tally.unchanged_count = unchanged.sum().item<double>();
  if (tally != nullptr) *tally += batch_tally;
  // Every batch logs every name (a training step's figures are summed by name and position).
  const auto split = [&](double sum, double count) { return count > 0 ? sum / count : 0.0; };
  loss.logs = {{"token_bits", token_ce.item<double>() / std::log(2.0)},
               {"next_frame_bits", next_frame_ce.item<double>() / std::log(2.0)},
               {"token_accuracy", correct.to(torch::kFloat32).mean().item<double>()},
               {"next_frame_accuracy", correct.masked_select(p.next_frame).to(torch::kFloat32).mean().item<double>()},
               {"reward_loss", reward_loss.item<double>()},
               {"reward_accuracy", reward_right.to(torch::kFloat32).mean().item<double>()},
               {"done_loss", done_loss.item<double>()},
               {"done_accuracy", ((done_logit > 0) == (done_target > 0.5)).to(torch::kFloat32).mean().item<double>()},
               {"next_frame_changed_bits", split(batch_tally.changed_nats, batch_tally.changed_count) / std::log(2.0)},
               {"next_frame_changed_accuracy", split(batch_tally.changed_correct, batch_tally.changed_count)},
               {"next_frame_unchanged_bits", split(batch_tally.unchanged_nats, batch_tally.unchanged_count) / std::log(2.0)},
               {"next_frame_unchanged_accuracy", split(batch_tally.unchanged_correct, batch_tally.unchanged_count)},
               {"next_frame_changed_share", split(batch_tally.changed_count, batch_tally.changed_count + batch_tally.unchanged_count)}};
  return loss;
}

KVCache WorldModelImpl::make_cache(int64_t batch) const {
  const auto& w = token_embedding_->weight;
  const int64_t head_dim = options_.width / options_.heads;
  // A bf16 model on a CPU with bf16 dot products keeps its cache packed for that kernel.
  const bool packed = w.scalar_type() == torch::kBFloat16 && w.is_cpu() && KVCache::packed_layout_available(head_dim);
  return make_cache(batch, packed ? KVLayout::kPackedBf16 : KVLayout::kHeadMajor);
}

KVCache WorldModelImpl::make_cache(int64_t batch, KVLayout layout) const {
  const auto& w = token_embedding_->weight;
  return KVCache(options_.layers, batch, options_.key_value_heads(), options_.max_positions(), options_.width / options_.heads, w.options(),
                 layout);
}

std::vector<torch::Tensor> WorldModelImpl::decayed_parameters() {
  std::vector<torch::Tensor> params;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) params.push_back(linear->weight);
  }
  return params;
}

std::vector<torch::Tensor> WorldModelImpl::other_parameters() {
  const auto decayed = decayed_parameters();
  std::vector<torch::Tensor> params;
  for (const auto& p : parameters()) {
    bool is_decayed = false;
    for (const auto& d : decayed) is_decayed = is_decayed || d.is_same(p);
    if (!is_decayed) params.push_back(p);
  }
  return params;
}

}  // namespace wm::dynamics
