#include "dynamics/imagination.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::dynamics {

Imagination::Imagination(WorldModel model, int64_t batch, SamplingOptions sampling)
    : model_(std::move(model)), batch_(batch), sampling_(sampling), cache_(model_->make_cache(batch)) {}

void Imagination::reset(const at::Tensor& tokens, const at::Tensor& actions) {
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
  for (int64_t t = 0; t < context; ++t) frames_.push_back(tokens.select(1, t));
  for (int64_t t = 0; t + 1 < context; ++t) actions_.push_back(actions.select(1, t));
  prime(tokens, actions);
}

// Fills the cache with whole steps 0..T0-2 (frame + action) and the frame of step T0-1.
void Imagination::prime(const at::Tensor& tokens, const at::Tensor& actions) {
  c10::InferenceMode inference;
  cache_.clear();
  const int64_t context = tokens.size(1);
  at::Tensor x = model_->embed_tokens(tokens.select(1, context - 1), 0, context - 1);  // [B, K, C]
  if (context > 1) {
    const at::Tensor whole = model_->embed_steps(tokens.narrow(1, 0, context - 1), actions, 0);
    x = torch::cat({whole, x}, 1);
  }
  model_->transform(x, &cache_);
  steps_ = context;
}

at::Tensor Imagination::sample(const at::Tensor& logits) {
  at::Tensor l = logits.to(torch::kFloat32);
  if (sampling_.temperature <= 0) return l.argmax(-1);
  l = l / sampling_.temperature;
  if (sampling_.top_k > 0 && sampling_.top_k < l.size(-1)) {
    const at::Tensor kth = std::get<0>(l.topk(sampling_.top_k, -1)).select(-1, sampling_.top_k - 1).unsqueeze(-1);
    l = l.masked_fill(l < kth, -std::numeric_limits<float>::infinity());
  }
  return torch::multinomial(torch::softmax(l, -1), 1).squeeze(-1);
}

ImaginedStep Imagination::step(const at::Tensor& actions) {
  c10::InferenceMode inference;
  const auto& o = model_->options();
  if (steps_ == 0) throw core::Error("imagination: step() before reset()");
  if (actions.size(0) != batch_) {
    throw core::Error("imagination: " + std::to_string(actions.size(0)) + " actions for " + std::to_string(batch_) + " trajectories");
  }
  model_->check_inputs(torch::empty({0}, torch::kInt64), actions);
  // The action of step steps_-1 and the next frame must fit: rebuild from the last L/2
  // steps when they do not.
  if (steps_ >= o.context_steps) {
    const int64_t keep = std::max<int64_t>(1, o.context_steps / 2);
    frames_.erase(frames_.begin(), frames_.end() - keep);
    actions_.erase(actions_.begin(), actions_.end() - (keep - 1));
    const at::Tensor kept_actions = keep > 1 ? torch::stack(actions_, 1) : actions.narrow(0, 0, batch_).unsqueeze(1).narrow(1, 0, 0);
    prime(torch::stack(frames_, 1), kept_actions);
  }
  const int64_t t = steps_ - 1;  // the step whose action this is

  // a_t: reward and termination of step t, and the logits of frame t+1's first token.
  at::Tensor hidden = model_->transform(model_->embed_action(actions, t), &cache_).select(1, 0);  // [B, C]
  ImaginedStep out;
  out.rewards = model_->reward_encoding().decode(model_->reward_logits(hidden));
  out.done_probs = torch::sigmoid(model_->done_logits(hidden).to(torch::kFloat32));
  out.dones = out.done_probs > 0.5;
  std::vector<at::Tensor> tokens;
  for (int64_t j = 0; j < o.tokens_per_frame; ++j) {
    const at::Tensor token = sample(model_->token_logits(hidden));  // [B]
    tokens.push_back(token);
    if (j + 1 < o.tokens_per_frame) {
      hidden = model_->transform(model_->embed_tokens(token.unsqueeze(1), j, t + 1), &cache_).select(1, 0);
    }
  }
  out.tokens = torch::stack(tokens, 1);  // [B, K]
  // The last token enters the cache too, so the next step's action sees the whole frame.
  model_->transform(model_->embed_tokens(tokens.back().unsqueeze(1), o.tokens_per_frame - 1, t + 1), &cache_);
  actions_.push_back(actions);
  frames_.push_back(out.tokens);
  ++steps_;
  return out;
}

}  // namespace wm::dynamics
