#include "tokenizer/tokenizer_trainer.h"

#include <torch/torch.h>

#include <cmath>

#include "tokenizer/tokenizer_checkpoint.h"

namespace wm::tokenizer {

void describe(core::ConfigSchema& schema, TokenizerTrainOptions& t) {
  schema.add("steps", &t.steps, "optimizer steps");
  schema.add("batch_size", &t.batch_size, "frames per step");
  schema.add("lr", &t.lr, "peak AdamW learning rate");
  schema.add("warmup_steps", &t.warmup_steps, "linear warm-up, then cosine decay");
  schema.add("min_lr_ratio", &t.min_lr_ratio, "the cosine ends at lr * this");
  schema.add("weight_decay", &t.weight_decay, "AdamW decay on conv/linear weights only");
  schema.add("grad_clip", &t.grad_clip, "global gradient-norm clip");
  schema.add("eval_every", &t.eval_every, "steps between held-out evaluations");
  schema.add("eval_frames", &t.eval_frames, "held-out frames per evaluation");
  schema.add("time_budget_s", &t.time_budget_s, "stop after this many seconds (0: run all steps)");
}

TokenizerTrainer::TokenizerTrainer(VQModel model, TokenizerTrainOptions options, c10::Device device, core::Precision precision)
    : model_(std::move(model)), options_(options), device_(device), precision_(precision) {
  model_->to(device_);
  model_->train();
  // Weight decay on the conv and linear weights; none on biases, norms or the codebook.
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model_->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(options_.lr).weight_decay(options_.weight_decay).betas({0.9, 0.99})));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(options_.lr).weight_decay(0.0).betas({0.9, 0.99})));
  optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups));
}

double TokenizerTrainer::learning_rate() const {
  if (step_ < options_.warmup_steps) return options_.lr * static_cast<double>(step_ + 1) / static_cast<double>(options_.warmup_steps);
  const double span = std::max<double>(1.0, static_cast<double>(options_.steps - options_.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step_ - options_.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return options_.lr * (options_.min_lr_ratio + (1.0 - options_.min_lr_ratio) * cosine);
}

core::Scalars TokenizerTrainer::train_step(const torch::Tensor& frames) {
  const double lr = learning_rate();
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);

  // Forward and loss (bf16 autocast on request), backward, clip, update.
  core::LossTerms loss;
  {
    core::AutocastGuard autocast(device_, precision_);
    loss = model_->compute_loss(frames);
  }
  optimizer_->zero_grad();
  loss.total.backward();
  const double grad_norm = torch::nn::utils::clip_grad_norm_(model_->parameters(), options_.grad_clip);
  optimizer_->step();
  ++step_;

  // Codebook maintenance: dead codes restart from the latest encoder outputs.
  if (step_ % model_->options().restart_every == 0) {
    restarts_ += model_->quantizer()->restart_dead_codes(&last_usage_);
  }

  core::Scalars scalars = {{"tokenizer/loss", loss.total.item<double>()}};
  for (const auto& [name, value] : loss.logs) scalars.emplace_back("tokenizer/" + name, value);
  scalars.emplace_back("tokenizer/lr", lr);
  scalars.emplace_back("tokenizer/grad_norm", grad_norm);
  scalars.emplace_back("tokenizer/codebook_usage", last_usage_);
  scalars.emplace_back("tokenizer/restarts", static_cast<double>(restarts_));
  return scalars;
}

std::pair<double, double> TokenizerTrainer::evaluate(const torch::Tensor& frames) {
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = model_->encode(frames);
  const torch::Tensor decoded = model_->decode(tokens).cpu();
  const double mse = (decoded.to(torch::kFloat64) - frames.to(torch::kFloat64)).pow(2).mean().item<double>();
  const double psnr = 10.0 * std::log10(255.0 * 255.0 / std::max(mse, 1e-10));
  const double usage = static_cast<double>(std::get<0>(torch::_unique(tokens.flatten())).numel()) /
                       static_cast<double>(model_->options().vocab_size);
  return {psnr, usage};
}

void TokenizerTrainer::save(core::CheckpointWriter& writer) {
  add_tokenizer(writer, model_);
  writer.add_optimizer("tokenizer_adamw", *optimizer_);
  writer.set_counter("tokenizer_step", step_);
  writer.set_counter("tokenizer_restarts", restarts_);
}

void TokenizerTrainer::restore(const core::Checkpoint& checkpoint) {
  checkpoint.restore_module(kTokenizerModule, *model_);
  checkpoint.restore_optimizer("tokenizer_adamw", *optimizer_);
  step_ = checkpoint.counter("tokenizer_step");
  restarts_ = checkpoint.counter("tokenizer_restarts");
}

}  // namespace wm::tokenizer
