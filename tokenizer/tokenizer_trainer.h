// One optimizer step of the tokenizer, read top to bottom: forward, loss, backward, clip,
// learning-rate schedule, update, codebook maintenance, figures to log. The trainer owns
// the model's optimizer and step counter; what feeds it frames, and when it logs, evaluates
// or checkpoints, is the caller's (tools/command_train.cpp), so a data-parallel wrapper can
// drive the same step.
#pragma once

#include <torch/optim/adamw.h>

#include <memory>

#include "core/checkpoint.h"
#include "core/config_schema.h"
#include "core/device.h"
#include "core/gradient_sync.h"
#include "core/ranks.h"
#include "core/host_memory.h"
#include "core/metrics.h"
#include "core/training_options.h"
#include "tokenizer/frame_augment.h"
#include "tokenizer/patch_discriminator.h"
#include "tokenizer/vq_model.h"

namespace wm::tokenizer {

// The shared options (core/training_options.h; batch_size counts frames) with the
// tokenizer's defaults, and its own.
struct TokenizerTrainOptions : core::TrainingOptions {
  TokenizerTrainOptions() : core::TrainingOptions{.lr = 1e-3, .warmup_steps = 200, .grad_clip = 1.0, .eval_every = 250} {}
  int64_t eval_frames = 128;    // held-out frames per evaluation
  AugmentOptions augment;       // off by default
  // Optional patch-GAN term (off by default): weight of the generator's adversarial loss,
  // the step it starts at (the autoencoder first learns to reconstruct), and the
  // discriminator's size and learning rate.
  double gan_weight = 0.0;
  int64_t gan_start_step = 2000;
  double gan_lr = 2e-4;
  int64_t gan_channels = 32;
  int64_t gan_layers = 3;

  bool gan_enabled() const { return gan_weight > 0.0; }
  // Throws wm::core::Error naming the value.
  void validate() const;
};

void describe(core::ConfigSchema& schema, TokenizerTrainOptions& train);

// A lower bound of the memory one training step of `model` holds with batches of `batch`
// frames: core::MemoryEstimate's weights, and the activations backward keeps: per level of
// the encoder and its mirror in the decoder, about 4 maps per residual block and 1 for the
// resampling, each channels x height x width at that level, at the precision computed in.
core::MemoryEstimate estimate_training_memory(const VQModel& model, int64_t batch, core::Precision precision);

class TokenizerTrainer {
 public:
  TokenizerTrainer(VQModel model, TokenizerTrainOptions options, c10::Device device, core::Precision precision);

  // One step on uint8 frames [B, H, W, 3]; returns the figures of this step.
  core::Scalars train_step(const torch::Tensor& frames);
  // PSNR (dB) of encode -> decode on uint8 frames, and the share of codes they use.
  std::pair<double, double> evaluate(const torch::Tensor& frames);

  // Data parallelism: the autoencoder's and the discriminator's gradients each go through a
  // GradientSync of `make` from now on (one process: LocalGradients, the default).
  void set_gradient_sync(const core::GradientSyncFactory& make);
  // Data parallelism over `ranks` (collective): rank 0's weights and codebook on every rank,
  // gradients averaged at the step's boundary, the codebook's statistics summed and its
  // restarts drawn once for all (VectorQuantizer::share_across), so every rank keeps the same
  // model.
  void share_across(const std::shared_ptr<core::Ranks>& ranks);

  int64_t step() const { return step_; }
  double learning_rate() const;
  VQModel& model() { return model_; }
  // Null unless options.gan_weight > 0.
  PatchDiscriminator& discriminator() { return discriminator_; }

  void save(core::CheckpointWriter& writer);
  void restore(const core::Checkpoint& checkpoint);

 private:
  VQModel model_;
  TokenizerTrainOptions options_;
  c10::Device device_;
  core::Precision precision_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  PatchDiscriminator discriminator_{nullptr};
  std::unique_ptr<torch::optim::AdamW> discriminator_optimizer_;
  std::unique_ptr<core::GradientSync> gradient_sync_ = std::make_unique<core::LocalGradients>();
  std::unique_ptr<core::GradientSync> discriminator_gradient_sync_ = std::make_unique<core::LocalGradients>();
  int64_t step_ = 0;
  double last_usage_ = -1;  // share of codes used over the last full restart span; -1: none has ended yet
  int64_t restarts_ = 0;
};

}  // namespace wm::tokenizer
