#include "core/training_options.h"

#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace wm::core {

double TrainingOptions::learning_rate(int64_t step) const {
  if (step < warmup_steps) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const double span = std::max<double>(1.0, static_cast<double>(steps - warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
  return lr * (min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

void TrainingOptions::validate(const std::string& section) const {
  auto fail = [&](const std::string& key, const std::string& value, const std::string& range) {
    throw Error(section + "." + key + " = " + value + " is outside its range: " + range);
  };
  auto real = [](double v) {
    std::string s = std::to_string(v);
    return std::isfinite(v) ? s : std::string(std::isnan(v) ? "nan" : "inf");
  };
  if (steps < 0) fail("steps", std::to_string(steps), "0 or more");
  if (batch_size < 1) fail("batch_size", std::to_string(batch_size), "1 or more");
  if (!std::isfinite(lr) || lr <= 0) fail("lr", real(lr), "a finite number above 0");
  if (warmup_steps < 0) fail("warmup_steps", std::to_string(warmup_steps), "0 or more");
  if (!(min_lr_ratio >= 0 && min_lr_ratio <= 1)) fail("min_lr_ratio", real(min_lr_ratio), "0..1");
  if (!std::isfinite(weight_decay) || weight_decay < 0) fail("weight_decay", real(weight_decay), "a finite number, 0 or more");
  if (!std::isfinite(grad_clip) || grad_clip <= 0) fail("grad_clip", real(grad_clip), "a finite number above 0");
  if (eval_every < 1) fail("eval_every", std::to_string(eval_every), "1 or more");
  if (early_stop_evals < 0) fail("early_stop_evals", std::to_string(early_stop_evals), "0 (never) or more");
  if (!std::isfinite(time_budget_s) || time_budget_s < 0) fail("time_budget_s", real(time_budget_s), "a finite number of seconds, 0 (no budget) or more");
}

void describe_training(ConfigSchema& schema, TrainingOptions& t, const std::string& batch_unit) {
  schema.add("steps", &t.steps, "training steps (updates; a policy update with epochs > 1 makes that many optimizer steps)", at_least(0));
  schema.add("batch_size", &t.batch_size, batch_unit + " per optimizer step", between(1, 1 << 20));
  schema.add("lr", &t.lr, "peak AdamW learning rate", at_least(0));
  schema.add("warmup_steps", &t.warmup_steps, "linear warm-up, then cosine decay", at_least(0));
  schema.add("min_lr_ratio", &t.min_lr_ratio, "the cosine ends at lr * this", between(0, 1));
  schema.add("weight_decay", &t.weight_decay, "AdamW decay on layer matrices only (not biases, norms, embeddings)", at_least(0));
  schema.add("grad_clip", &t.grad_clip, "gradient-norm clip (the policy: joint, or per tower with clip_towers_apart)", at_least(0));
  schema.add("eval_every", &t.eval_every, "steps between held-out evaluations", at_least(1));
  schema.add("time_budget_s", &t.time_budget_s, "stop after this many seconds (0: run all steps)", at_least(0));
  schema.add("early_stop_evals", &t.early_stop_evals,
             "stop once this many held-out evaluations in a row have not beaten the best (0: never); the phase ends on the best "
             "evaluation's checkpoint, later checkpoints moved aside as *.ckpt.after_best", at_least(0));
}

std::unique_ptr<torch::optim::AdamW> make_adamw(std::vector<torch::Tensor> decayed, std::vector<torch::Tensor> other,
                                                const TrainingOptions& options, std::pair<double, double> betas) {
  auto group_options = [&](double decay) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(options.lr).weight_decay(decay).betas({betas.first, betas.second}));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::move(decayed), group_options(options.weight_decay));
  groups.emplace_back(std::move(other), group_options(0.0));
  return std::make_unique<torch::optim::AdamW>(std::move(groups));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace wm::core
