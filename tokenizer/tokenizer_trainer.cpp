#include "tokenizer/tokenizer_trainer.h"

#include <torch/torch.h>

#include <bit>
#include <cstdlib>

#include <cmath>

#include "core/device.h"
#include "core/error.h"
#include "tokenizer/tokenizer_checkpoint.h"

namespace {
constexpr const char* kDiscriminatorModule = "discriminator";
}

namespace wm::tokenizer {

void describe(core::ConfigSchema& schema, TokenizerTrainOptions& t) {
  core::describe_training(schema, t, "frames");
  schema.add("eval_frames", &t.eval_frames, "held-out frames per evaluation", core::at_least(1));
  schema.add("augment_flip", &t.augment.flip, "probability of mirroring a training frame", core::between(0, 1));
  schema.add("augment_crop_min", &t.augment.crop_min, "random crops keep this much of a side or more, rescaled (1: off)", core::between(0.01, 1));
  schema.add("augment_color", &t.augment.color, "brightness/contrast/saturation jitter, +- this factor (0: off)", core::between(0, 1));
  schema.add("gan_weight", &t.gan_weight, "weight of the patch-GAN generator loss (0: no GAN)", core::at_least(0));
  schema.add("gan_start_step", &t.gan_start_step, "step at which the GAN term starts", core::at_least(0));
  schema.add("gan_lr", &t.gan_lr, "discriminator AdamW learning rate", core::at_least(0));
  schema.add("gan_channels", &t.gan_channels, "discriminator width of its first layer", core::between(1, 1 << 16));
  schema.add("gan_layers", &t.gan_layers, "discriminator stride-2 layers", core::between(1, 16));
}

void TokenizerTrainOptions::validate() const {
  core::TrainingOptions::validate("tokenizer_train");
  auto fail = [](const std::string& what) { throw core::Error("tokenizer_train: " + what); };
  if (eval_frames < 1) fail("eval_frames " + std::to_string(eval_frames) + " must be at least 1");
  augment.validate();
  if (gan_weight < 0) fail("gan_weight " + std::to_string(gan_weight) + " must not be negative");
  if (gan_enabled() && (gan_layers < 1 || gan_layers > 5)) fail("gan_layers " + std::to_string(gan_layers) + " is outside 1..5");
  if (gan_enabled() && gan_channels < 8) fail("gan_channels " + std::to_string(gan_channels) + " is below 8");
}

core::MemoryEstimate estimate_training_memory(const VQModel& model, int64_t batch, core::Precision precision) {
  const TokenizerOptions& o = model->options();
  double parameters = 0;
  for (const auto& p : model->parameters()) parameters += static_cast<double>(p.numel());
  double values = 0;  // per frame
  for (size_t level = 0; level < o.channel_mult.size(); ++level) {
    const double pixels = static_cast<double>(o.height >> level) * static_cast<double>(o.width >> level);
    values += 2.0 * (4.0 * static_cast<double>(o.res_blocks) + 1.0) * static_cast<double>(o.base_channels * o.channel_mult[level]) * pixels;
  }
  core::MemoryEstimate estimate;
  estimate.weights = 12.0 * parameters;  // gradients and AdamW's two moments (the fp32 weights are already allocated)
  estimate.activations = static_cast<double>(batch) * values * (precision == core::Precision::kBf16 ? 2.0 : 4.0);
  return estimate;
}

TokenizerTrainer::TokenizerTrainer(VQModel model, TokenizerTrainOptions options, c10::Device device, core::Precision precision)
    : model_(std::move(model)), options_(options), device_(device), precision_(precision) {
  options_.validate();
  core::check_precision_supported(device_, precision_, "tokenizer training");
  if (device_.is_cpu()) {
    const TokenizerOptions& o = model_->options();
    const core::MemoryEstimate needs = estimate_training_memory(model_, options_.batch_size, precision_);
    core::check_fits_in_memory(needs.total(),
                               "training the tokenizer (" + std::to_string(o.height) + "x" + std::to_string(o.width) + " frames, " +
                                   std::to_string(o.base_channels) + " base channels, batches of " + std::to_string(options_.batch_size) + ")",
                               needs.breakdown(), "lower tokenizer_train.batch_size, tokenizer.base_channels or the frame size");
  }
  model_->to(device_);
  model_->train();
  // Weight decay on the conv and linear weights; none on biases, norms or the codebook.
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model_->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  optimizer_ = core::make_adamw(decay, no_decay, options_, {0.9, 0.99});
  if (options_.gan_enabled()) {
    discriminator_ = PatchDiscriminator(options_.gan_channels, options_.gan_layers);
    discriminator_->to(device_);
    // VQGAN's discriminator betas (0.5, 0.9): a short momentum keeps up with a moving target.
    discriminator_optimizer_ = std::make_unique<torch::optim::AdamW>(
        discriminator_->parameters(), torch::optim::AdamWOptions(options_.gan_lr).betas({0.5, 0.9}).weight_decay(0.0));
  }
}

double TokenizerTrainer::learning_rate() const {
  return options_.learning_rate(step_);
}

void TokenizerTrainer::set_gradient_sync(const core::GradientSyncFactory& make) {
  gradient_sync_ = make(model_->parameters());
  if (discriminator_) discriminator_gradient_sync_ = make(discriminator_->parameters());
}

void TokenizerTrainer::share_across(const std::shared_ptr<core::Ranks>& ranks) {
  core::broadcast_module(*ranks, *model_);
  if (discriminator_) core::broadcast_module(*ranks, *discriminator_);
  set_gradient_sync(ranks->gradient_sync());
  model_->quantizer()->share_across(ranks);
}

core::Scalars TokenizerTrainer::train_step(const torch::Tensor& frames) {
  const double lr = learning_rate();
  core::set_learning_rate(*optimizer_, lr);

  const bool adversarial = options_.gan_enabled() && step_ >= options_.gan_start_step;

  // Forward and loss (bf16 autocast on request), backward, clip, update.
  // x, reconstruction: float [B, 3, H, W] in [-1, 1].
  core::LossTerms loss;
  torch::Tensor x, reconstruction;
  {
    core::AutocastGuard autocast(device_, precision_);
    x = model_->frames_to_input(frames);
    if (options_.augment.enabled()) x = augment_frames(x, options_.augment);
    const Reconstruction r = model_->forward(x);
    reconstruction = r.frames;
    loss = model_->reconstruction_loss(x, r);
    if (adversarial) {
      const torch::Tensor generator = generator_adversarial_loss(discriminator_(reconstruction));
      loss.total = loss.total + options_.gan_weight * generator;
      loss.logs.emplace_back("gan_generator", generator.item<double>());
    }
  }
  optimizer_->zero_grad();
  gradient_sync_->before_backward(/*last=*/true);
  loss.total.backward();
  gradient_sync_->finish();  // from here the gradients are the mean over all ranks
  const double grad_norm = torch::nn::utils::clip_grad_norm_(model_->parameters(), options_.grad_clip);
  optimizer_->step();

  // Discriminator: real frames against the (detached) reconstructions of this step.
  if (adversarial) {
    torch::Tensor discriminator_loss, real_logits, fake_logits;
    {
      core::AutocastGuard autocast(device_, precision_);
      real_logits = discriminator_(x);
      fake_logits = discriminator_(reconstruction.detach());
      discriminator_loss = discriminator_hinge_loss(real_logits, fake_logits);
    }
    discriminator_optimizer_->zero_grad();
    discriminator_gradient_sync_->before_backward(/*last=*/true);
    discriminator_loss.backward();
    discriminator_gradient_sync_->finish();
    discriminator_optimizer_->step();
    loss.logs.emplace_back("gan_discriminator", discriminator_loss.item<double>());
    // Share of patches the discriminator gets right: 0.5 means it cannot tell them apart.
    const double correct = ((real_logits > 0).sum() + (fake_logits < 0).sum()).item<double>();
    loss.logs.emplace_back("gan_accuracy", correct / static_cast<double>(real_logits.numel() + fake_logits.numel()));
  }
  ++step_;

  // Codebook maintenance: dead codes restart from the latest encoder outputs.
  if (step_ % model_->options().restart_every == 0) {
    restarts_ += model_->quantizer()->restart_dead_codes(&last_usage_);
  }

  core::Scalars scalars = {{"tokenizer/loss", loss.total.item<double>()}};
  for (const auto& [name, value] : loss.logs) scalars.emplace_back("tokenizer/" + name, value);
  scalars.emplace_back("tokenizer/lr", lr);
  scalars.emplace_back("tokenizer/grad_norm", grad_norm);
  // Over the last full restart span; before the first one ends, over the steps so far.
  scalars.emplace_back("tokenizer/codebook_usage", last_usage_ >= 0 ? last_usage_ : model_->quantizer()->recent_usage());
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
  if (discriminator_) {
    writer.add_module(kDiscriminatorModule, *discriminator_);
    writer.add_optimizer("discriminator_adamw", *discriminator_optimizer_);
  }
  writer.set_counter("tokenizer_step", step_);
  writer.set_counter("tokenizer_restarts", restarts_);
  // The usage figure logged until the next restart span ends (exact: a resumed run logs what
  // the uninterrupted one logs).
  writer.set_text("tokenizer_last_usage", std::to_string(std::bit_cast<uint64_t>(last_usage_)));
}

void TokenizerTrainer::restore(const core::Checkpoint& checkpoint) {
  checkpoint.restore_module(kTokenizerModule, *model_);
  checkpoint.restore_optimizer("tokenizer_adamw", *optimizer_);
  // A checkpoint from a run without the GAN resumes with a fresh discriminator.
  if (discriminator_ && checkpoint.has_module(kDiscriminatorModule)) {
    checkpoint.restore_module(kDiscriminatorModule, *discriminator_);
    checkpoint.restore_optimizer("discriminator_adamw", *discriminator_optimizer_);
  }
  step_ = checkpoint.counter("tokenizer_step");
  restarts_ = checkpoint.counter("tokenizer_restarts");
  const std::string usage = checkpoint.text("tokenizer_last_usage");  // empty in checkpoints before it was kept
  char* end = nullptr;
  const uint64_t bits = std::strtoull(usage.c_str(), &end, 10);
  if (!usage.empty() && *end != '\0') throw core::Error(checkpoint.path().string() + ": tokenizer_last_usage '" + usage + "' is not a number");
  last_usage_ = usage.empty() ? -1.0 : std::bit_cast<double>(bits);
}

}  // namespace wm::tokenizer
