#include "dynamics/imagination.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::dynamics {

namespace {

// Dreams run the model in eval mode (no dropout) and give the caller's mode back after.
class EvalMode {
 public:
  explicit EvalMode(WorldModel& model) : model_(model), was_training_(model->is_training()) { model_->eval(); }
  ~EvalMode() { model_->train(was_training_); }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  WorldModel& model_;
  bool was_training_;
};

// Tensors made under InferenceMode cannot be saved for backward; a policy's loss multiplies
// imagined rewards and feeds imagined tokens, so the caller gets ordinary tensors.
ImaginedStep usable_in_autograd(const ImaginedStep& s) {
  return {s.tokens.clone(), s.rewards.clone(), s.dones.clone(), s.done_probs.clone()};
}

}  // namespace

Imagination::Imagination(WorldModel model, int64_t batch, SamplingOptions sampling, std::optional<KVLayout> cache_layout)
    : model_(std::move(model)),
      batch_(batch),
      sampler_(sampling),
      cache_(cache_layout ? model_->make_cache(batch, *cache_layout) : model_->make_cache(batch)) {}

void Imagination::reset(const at::Tensor& tokens, const at::Tensor& actions) {
  EvalMode eval(model_);
  const auto& o = model_->options();
  if (tokens.dim() != 3 || tokens.size(0) != batch_ || tokens.size(2) != o.tokens_per_frame) {
    throw core::Error("imagination: context tokens must be [" + std::to_string(batch_) + ", T, " + std::to_string(o.tokens_per_frame) +
                      "], got " + c10::str(tokens.sizes()));
  }
  const int64_t context = tokens.size(1);
  if (context < 1 || context >= o.context_steps) {
    throw core::Error("imagination: a context of " + std::to_string(context) + " frames is outside 1.." +
                      std::to_string(o.context_steps - 1) + " (the model's context is " + std::to_string(o.context_steps) +
                      " steps, one is left for the first imagined frame)");
  }
  if (actions.size(0) != batch_ || actions.size(1) != context - 1) {
    throw core::Error("imagination: context actions must cover the " + std::to_string(context - 1) + " steps between the " +
                      std::to_string(context) + " frames, got " + c10::str(actions.sizes()));
  }
  model_->check_inputs(tokens, actions);
  frames_.clear();
  actions_.clear();
  // Copies: the caller may reuse its buffers; the newest frame is read again at the first step
  // (parallel mode) and all of them at a rebuild.
  for (int64_t t = 0; t < context; ++t) frames_.push_back(tokens.select(1, t).clone());
  for (int64_t t = 0; t + 1 < context; ++t) actions_.push_back(actions.select(1, t).clone());
  prime(tokens, actions);
}

// Fills the cache with whole steps 0..T0-2 (frame + action), and, autoregressive, the frame of
// step T0-1 (parallel: it enters with its action).
void Imagination::prime(const at::Tensor& tokens, const at::Tensor& actions) {
  c10::InferenceMode inference;
  cache_.clear();
  const int64_t context = tokens.size(1);
  const int64_t K = model_->options().tokens_per_frame;
  // Each row's previous-frame token (token-by-token decoding with previous_frame_input); the
  // window's first frame has none, as in training.
  const at::Tensor previous_rows = model_->autoregressive_previous(tokens);  // [B, T0, K + 1]
  std::vector<at::Tensor> parts;
  if (context > 1) parts.push_back(model_->embed_steps(tokens.narrow(1, 0, context - 1), actions, 0, previous_rows.narrow(1, 0, context - 1)));
  if (!parallel()) {
    parts.push_back(model_->embed_tokens(tokens.select(1, context - 1), 0, context - 1, previous_rows.select(1, context - 1).narrow(1, 0, K)));  // [B, K, C]
  }
  if (!parts.empty()) model_->fill_cache(torch::cat(parts, 1), cache_);
  steps_ = context;
}

// The action of step steps_-1 and the next frame must fit: rebuild from the last L/2 steps
// when they do not.
void Imagination::rebuild_if_full(const at::Tensor& actions) {
  const auto& o = model_->options();
  if (steps_ < o.context_steps) return;
  const int64_t keep = std::max<int64_t>(1, o.context_steps / 2);
  frames_.erase(frames_.begin(), frames_.end() - keep);
  actions_.erase(actions_.begin(), actions_.end() - (keep - 1));
  const at::Tensor kept_actions = keep > 1 ? torch::stack(actions_, 1) : actions.unsqueeze(1).narrow(1, 0, 0);
  prime(torch::stack(frames_, 1), kept_actions);
}

void Imagination::read_step_outcome(const at::Tensor& action_hidden, ImaginedStep& out) {
  out.rewards = model_->reward_encoding().decode(model_->reward_logits(action_hidden).to(torch::kFloat32));
  out.done_probs = torch::sigmoid(model_->done_logits(action_hidden).to(torch::kFloat32));
  out.dones = out.done_probs > 0.5;
}

ImaginedStep Imagination::step(const at::Tensor& actions) {
  EvalMode eval(model_);
  ImaginedStep out;
  {
    c10::InferenceMode inference;
    if (steps_ == 0) throw core::Error("imagination: step() before reset()");
    if (actions.size(0) != batch_) {
      throw core::Error("imagination: " + std::to_string(actions.size(0)) + " actions for " + std::to_string(batch_) + " trajectories");
    }
    model_->check_inputs(torch::empty({0}, torch::kInt64), actions);
    rebuild_if_full(actions);
    const int64_t t = steps_ - 1;  // the step whose action this is

    if (parallel()) {
      out.tokens = step_parallel(actions, t, out);
    } else {
      const at::Tensor frame = frames_.back();  // [B, K]: frame t
      const at::Tensor hidden = model_->transform(model_->embed_action(actions, t, frame.select(1, 0)), &cache_).select(1, 0);  // [B, C]
      read_step_outcome(hidden, out);
      out.tokens = next_frame_autoregressive(hidden, frame, t);
    }
    actions_.push_back(actions.clone());
    frames_.push_back(out.tokens);
    ++steps_;
  }
  return usable_in_autograd(out);
}

at::Tensor Imagination::history_before_previous() const {
  if (model_->options().copy_history == 0) return {};
  // frames_ ends with frame t: its history one frame back is frames t - 1 .. t - H, none
  // before what the window holds (after a rebuild, as in a training window that starts there).
  return model_->place_history(torch::stack(frames_, 1), /*back=*/1).select(1, -1);  // [B, K, H]
}

at::Tensor Imagination::next_frame_autoregressive(at::Tensor hidden, const at::Tensor& frame, int64_t t) {
  const int64_t K = model_->options().tokens_per_frame;
  const at::Tensor none = torch::full({batch_, 1}, -1, frame.options());
  const at::Tensor history = history_before_previous();  // [B, K, H] or undefined
  std::vector<at::Tensor> tokens;
  for (int64_t j = 0; j < K; ++j) {
    // Token j of frame t + 1, copying from frame t (its token j, and neighbours with
    // copy_radius) and, with copy_history, from the frames before at place j.
    const at::Tensor token = sampler_.sample(model_->token_scores(hidden, frame, torch::full({batch_}, j, frame.options()),
                                                                  history.defined() ? history.select(1, j) : history));  // [B]
    tokens.push_back(token);
    // Its row predicts token j + 1, whose previous is frame t's token j + 1 (none after the last).
    const at::Tensor row_previous = j + 1 < K ? frame.narrow(1, j + 1, 1) : none;  // [B, 1]
    const at::Tensor x = model_->embed_tokens(token.unsqueeze(1), j, t + 1, row_previous);
    if (j + 1 < K) {
      hidden = model_->transform(x, &cache_).select(1, 0);
    } else {
      model_->fill_cache(x, cache_);  // the next action sees the whole frame; nothing reads this output
    }
  }
  return torch::stack(tokens, 1);  // [B, K]
}

at::Tensor Imagination::step_parallel(const at::Tensor& actions, int64_t t, ImaginedStep& out) {
  // One pass: frame t (sampled by the previous step) and a_t enter the cache, and the K frame
  // queries of step t + 1 read it, a_t included. Of the last layer, only a_t's row and the
  // queries' give outputs. -> [B, 1 + K, C]: a_t, then the queries.
  const int64_t K = model_->options().tokens_per_frame;
  const at::Tensor x = torch::cat({model_->embed_tokens(frames_.back(), 0, t), model_->embed_action(actions, t)}, 1);  // [B, K + 1, C]
  const at::Tensor previous = frames_.back();                                                                              // [B, K]
  const at::Tensor queries = model_->embed_frame_queries(t + 1, 1, previous.unsqueeze(1)).expand({batch_, -1, -1});       // [B, K, C]
  const at::Tensor hidden = model_->transform_cached(x, queries, model_->frame_query_positions(t + 1, 1), cache_,
                                                     /*last_layer_output_from=*/K);
  read_step_outcome(hidden.select(1, 0), out);
  return sampler_.sample(model_->next_frame_logits(hidden.narrow(1, 1, K), previous, history_before_previous()));  // [B, K]
}

}  // namespace wm::dynamics
