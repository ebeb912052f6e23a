#include "dynamics/dream_precision.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::dynamics {

WorldModel dream_model(const WorldModel& model, core::Precision precision) {
  if (precision == core::Precision::kFp32) return model;
  const torch::Tensor any = model->parameters().front();
  WorldModel copy(model->options());
  {
    torch::NoGradGuard no_grad;
    auto source = model->named_parameters();
    for (auto& item : copy->named_parameters()) item.value().copy_(source[item.key()]);
  }
  copy->to(any.device(), torch::kBFloat16);
  // The token head stays fp32: logits rounded to bf16 (8 bits of mantissa) swap the most
  // likely token between near-equal candidates — on the trained driving model, top-1
  // agreement with fp32 was 97.5% with bf16 logits and 99.3% with fp32 ones (wm bench
  // precision), for about 5% of a demo-size dream step.
  copy->token_head()->to(torch::kFloat32);
  copy->eval();
  return copy;
}

DreamLogits teacher_forced_dream_logits(WorldModel& model, const DynamicsBatch& batch) {
  c10::InferenceMode inference;
  const auto& o = model->options();
  const int64_t B = batch.tokens.size(0), L = batch.tokens.size(1), K = o.tokens_per_frame;
  if (L > o.context_steps) {
    throw core::Error("windows of " + std::to_string(L) + " steps exceed the model's context of " + std::to_string(o.context_steps) + " steps");
  }
  const bool parallel = o.decoding == Decoding::kParallel;
  const torch::Device device = model->parameters().front().device();
  const torch::Tensor tokens = batch.tokens.to(device), actions = batch.actions.to(device);
  KVCache cache = model->make_cache(B);
  std::vector<torch::Tensor> logits;  // [B, rows, V] per step
  // Token-by-token: each row's previous-frame token (its input), the frame it copies from and
  // the place it predicts (the copy path).
  const torch::Tensor previous_rows = model->autoregressive_previous(tokens);  // [B, L, K + 1]
  const torch::Tensor copy_frames = model->autoregressive_copy_frames(tokens);  // [B, L, K + 1, K]
  const torch::Tensor places = model->autoregressive_places().expand({B, K + 1});
  // With copy_history, each prediction's older tokens at its place (undefined without).
  const torch::Tensor row_history = parallel ? torch::Tensor() : model->autoregressive_copy_history(tokens);  // [B, L, K + 1, H]
  const torch::Tensor frame_history = parallel ? model->place_history(tokens, 2) : torch::Tensor();           // [B, L, K, H]
  for (int64_t t = 0; t < L; ++t) {
    const torch::Tensor x = model->embed_steps(tokens.narrow(1, t, 1), actions.narrow(1, t, 1), t, previous_rows.narrow(1, t, 1));  // [B, K + 1, C]
    if (parallel) {
      if (t + 1 == L) break;
      const torch::Tensor previous = tokens.select(1, t);  // [B, K]: frame t, before the predicted t + 1
      const torch::Tensor queries = model->embed_frame_queries(t + 1, 1, previous.unsqueeze(1)).expand({B, -1, -1});
      logits.push_back(model->next_frame_logits(
          model->transform_cached(x, queries, model->frame_query_positions(t + 1, 1), cache, /*last_layer_output_from=*/K + 1), previous,
          frame_history.defined() ? frame_history.select(1, t + 1) : frame_history));
    } else {
      for (int64_t p = 0; p < x.size(1); ++p) {
        const torch::Tensor hidden = model->transform(x.narrow(1, p, 1), &cache);  // [B, 1, C]
        logits.push_back(model->token_scores(hidden, copy_frames.select(1, t).narrow(1, p, 1), places.narrow(1, p, 1),
                                             row_history.defined() ? row_history.select(1, t).narrow(1, p, 1) : row_history));
      }
    }
  }
  // Autoregressive rows belong to step t (K + 1 each); parallel ones predict step t + 1 (K each).
  const torch::Tensor mask = batch.mask.to(device, torch::kBool);
  const torch::Tensor real = parallel ? mask.narrow(1, 1, L - 1).repeat_interleave(K, 1) : mask.repeat_interleave(K + 1, 1);
  return {torch::cat(logits, 1).to(torch::kFloat32), real};
}

PrecisionAgreement compare_dream_precision(const WorldModel& fp32_model, const std::vector<DynamicsBatch>& batches) {
  WorldModel exact_model = fp32_model;
  const bool was_training = exact_model->is_training();
  exact_model->eval();
  WorldModel bf16_model = dream_model(exact_model, core::Precision::kBf16);
  double agreeing = 0, kl = 0;
  int64_t rows = 0;
  for (const DynamicsBatch& batch : batches) {
    const DreamLogits exact = teacher_forced_dream_logits(exact_model, batch);
    const DreamLogits rounded = teacher_forced_dream_logits(bf16_model, batch);
    const torch::Tensor log_p = torch::log_softmax(exact.logits.index({exact.real}), -1);    // [N, V]
    const torch::Tensor log_q = torch::log_softmax(rounded.logits.index({exact.real}), -1);  // [N, V]
    agreeing += (log_p.argmax(-1) == log_q.argmax(-1)).sum().item<double>();
    kl += (log_p.exp() * (log_p - log_q)).sum().item<double>();
    rows += log_p.size(0);
  }
  exact_model->train(was_training);
  if (rows == 0) throw core::Error("comparing bf16 with fp32: the batches hold no real steps");
  return {agreeing / static_cast<double>(rows), kl / static_cast<double>(rows), rows};
}

}  // namespace wm::dynamics
