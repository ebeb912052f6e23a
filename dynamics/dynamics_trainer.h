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
#include "core/gradient_sync.h"
#include "core/host_memory.h"
#include "core/metrics.h"
#include "core/ranks.h"
#include "core/training_options.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

// The shared options (core/training_options.h; batch_size counts windows, over all
// micro-batches) with the dynamics model's defaults (IRIS: lr 1e-4, clip 10), and its own.
struct DynamicsTrainOptions : core::TrainingOptions {
  DynamicsTrainOptions() : core::TrainingOptions{.lr = 1e-4, .warmup_steps = 500, .grad_clip = 10.0, .eval_every = 500} {}
  int64_t grad_accumulation = 1;    // micro-batches per step: batch_size / this windows each
  int64_t eval_batches = 4;         // held-out batches per evaluation
  std::string tokenizer;            // frames data: tokenizer checkpoint (or run folder) to tokenize them on the fly

  // Throws wm::core::Error naming the value.
  void validate() const;
};

void describe(core::ConfigSchema& schema, DynamicsTrainOptions& train);

// A lower bound of the memory one training step of `model` holds with micro-batches of
// `micro_batch` windows: core::MemoryEstimate's weights, and per window the activations
// backward keeps: per position and layer about 16 x width values (the block's inputs and
// norms, q/k/v, the attention output, the MLP's 4 x width hidden layer and its activation)
// at the precision computed in, and the fp32 logits over the vocabulary with their gradient.
core::MemoryEstimate estimate_training_memory(const WorldModel& model, int64_t micro_batch, core::Precision precision);

class DynamicsTrainer {
 public:
  DynamicsTrainer(WorldModel model, DynamicsTrainOptions options, c10::Device device, core::Precision precision);

  // One step on a batch of windows (tensors on any device); returns the figures of this step.
  core::Scalars train_step(const DynamicsBatch& batch);
  // The loss terms on held-out batches, averaged, without updating anything.
  core::Scalars evaluate(const std::vector<DynamicsBatch>& batches);

  // Data parallelism: the step's gradients go through a GradientSync of `make` from now on
  // (one process: LocalGradients, the default).
  void set_gradient_sync(const core::GradientSyncFactory& make);
  // Data parallelism over `ranks` (collective): rank 0's model on every rank, and gradients
  // averaged at the step's boundary (the accumulation micro-steps send nothing).
  void share_across(const std::shared_ptr<core::Ranks>& ranks);

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
  std::unique_ptr<core::GradientSync> gradient_sync_ = std::make_unique<core::LocalGradients>();
  int64_t step_ = 0;
};

}  // namespace wm::dynamics
