// The optimizer setup every wm trainer shares (tokenizer, dynamics, policy): the ten
// options of a training run, one AdamW with decay and no-decay groups, and the warm-up +
// cosine learning rate applied to every group before a step.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config_schema.h"

namespace wm::core {

struct TrainingOptions {
  int64_t steps = 20000;       // optimizer steps
  int64_t batch_size = 32;     // examples per optimizer step (frames, windows, start states)
  double lr = 1e-4;            // peak AdamW learning rate
  int64_t warmup_steps = 500;  // linear warm-up, then cosine decay
  double min_lr_ratio = 0.1;   // the cosine ends at lr * this
  double weight_decay = 0.01;  // on the decayed group only (matrices of linear/conv layers)
  double grad_clip = 1.0;      // global gradient-norm clip
  int64_t eval_every = 500;    // steps between held-out evaluations
  double time_budget_s = 0;    // stop after this long (0: run all steps)
  // Early stopping: stop once this many evaluations in a row have not beaten the best held-out
  // figure (0: never); the phase then ends on the best evaluation's checkpoint (run_phase).
  int64_t early_stop_evals = 0;

  // The learning rate at optimizer step `step` (0-based): warm-up, cosine to lr * min_lr_ratio
  // at `steps`, flat after.
  double learning_rate(int64_t step) const;
  // Throws wm::core::Error naming `section`.key, the value and the valid range.
  void validate(const std::string& section) const;
};

// The ten keys in a trainer's config section; `batch_unit` says what batch_size counts.
void describe_training(ConfigSchema& schema, TrainingOptions& options, const std::string& batch_unit);

// AdamW over two groups: `decayed` with options.weight_decay, `other` without.
std::unique_ptr<torch::optim::AdamW> make_adamw(std::vector<torch::Tensor> decayed, std::vector<torch::Tensor> other,
                                                const TrainingOptions& options, std::pair<double, double> betas = {0.9, 0.999});

// Sets every group's learning rate (AdamW, Adam).
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace wm::core
