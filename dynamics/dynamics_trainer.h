// One optimizer step of the dynamics model, read top to bottom: learning rate, forward and
// loss per micro-batch (gradient accumulation; bf16 autocast on request), backward, clip,
// update, figures to log. Feeding batches, evaluating, logging and checkpointing are the
// caller's (tools/command_train.cpp), so a data-parallel wrapper can drive the same step.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>
#include <string>

#include "core/checkpoint.h"
#include "core/config_schema.h"
#include "core/device.h"
#include "core/metrics.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

struct DynamicsTrainOptions {
  int64_t steps = 20000;            // optimizer steps
  int64_t batch_size = 32;          // windows per optimizer step (over all micro-batches)
  int64_t grad_accumulation = 1;    // micro-batches per step: batch_size / this windows each
  double lr = 1e-4;                 // peak learning rate (IRIS)
  int64_t warmup_steps = 500;       // linear warm-up, then cosine decay
  double min_lr_ratio = 0.1;        // the cosine ends at lr * this
  double weight_decay = 0.01;       // on linear-layer matrices only
  double grad_clip = 10.0;          // global gradient-norm clip (IRIS)
  int64_t eval_every = 500;         // held-out evaluation
  int64_t eval_batches = 4;         // held-out batches per evaluation
  double time_budget_s = 0;         // stop after this long (0: run all steps)
  std::string tokenizer;            // frames data: tokenizer checkpoint (or run folder) to tokenize them on the fly

  // Throws wm::core::Error naming the value.
  void validate() const;
};

void describe(core::ConfigSchema& schema, DynamicsTrainOptions& train);

class DynamicsTrainer {
 public:
  DynamicsTrainer(WorldModel model, DynamicsTrainOptions options, c10::Device device, core::Precision precision);

  // One step on a batch of windows (tensors on any device); returns the figures of this step.
  core::Scalars train_step(const DynamicsBatch& batch);
  // The loss terms on held-out batches, averaged, without updating anything.
  core::Scalars evaluate(const std::vector<DynamicsBatch>& batches);

  int64_t step() const { return step_; }
  double learning_rate() const;
  WorldModel& model() { return model_; }

  void save(core::CheckpointWriter& writer);
  void restore(const core::Checkpoint& checkpoint);

 private:
  DynamicsBatch to_device(const DynamicsBatch& batch) const;

  WorldModel model_;
  DynamicsTrainOptions options_;
  c10::Device device_;
  core::Precision precision_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  int64_t step_ = 0;
};

}  // namespace wm::dynamics
