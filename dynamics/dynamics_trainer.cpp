#include "dynamics/dynamics_trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "core/device.h"
#include "core/error.h"
#include "dynamics/dynamics_checkpoint.h"

namespace wm::dynamics {

namespace {

// Adds one loss's logs into running sums (the same names in the same order every time).
void accumulate(core::Scalars& sums, const core::Scalars& logs) {
  if (sums.empty()) {
    sums = logs;
    return;
  }
  for (size_t i = 0; i < sums.size(); ++i) sums[i].second += logs[i].second;
}

}  // namespace

void describe(core::ConfigSchema& schema, DynamicsTrainOptions& t) {
  core::describe_training(schema, t, "windows of context_steps steps");
  schema.add("grad_accumulation", &t.grad_accumulation, "micro-batches per step (batch_size must divide by it)", core::at_least(1));
  schema.add("eval_batches", &t.eval_batches, "held-out batches per evaluation", core::at_least(1));
  schema.add("tokenizer", &t.tokenizer, "when data.path holds frames: the tokenizer checkpoint (or run folder) that tokenizes them");
}

void DynamicsTrainOptions::validate() const {
  core::TrainingOptions::validate("dynamics_train");
  auto fail = [](const std::string& what) { throw core::Error("dynamics_train: " + what); };
  if (eval_batches < 1) fail("eval_batches " + std::to_string(eval_batches) + " must be at least 1");
  if (grad_accumulation < 1 || batch_size % grad_accumulation != 0) {
    fail("batch_size " + std::to_string(batch_size) + " does not divide into grad_accumulation " + std::to_string(grad_accumulation) +
         " micro-batches");
  }
}

core::MemoryEstimate estimate_training_memory(const WorldModel& model, int64_t micro_batch, core::Precision precision) {
  const DynamicsOptions& o = model->options();
  double parameters = 0;
  for (const auto& p : model->parameters()) parameters += static_cast<double>(p.numel());
  const double positions = static_cast<double>(micro_batch) * static_cast<double>(o.max_positions());
  const double element = precision == core::Precision::kBf16 ? 2.0 : 4.0;
  core::MemoryEstimate estimate;
  estimate.weights = 12.0 * parameters;  // gradients and AdamW's two moments (the fp32 weights are already allocated)
  estimate.activations = positions * (16.0 * static_cast<double>(o.layers * o.width) * element + 2.0 * 4.0 * static_cast<double>(o.vocab_size));
  return estimate;
}

DynamicsTrainer::DynamicsTrainer(WorldModel model, DynamicsTrainOptions options, c10::Device device, core::Precision precision)
    : model_(std::move(model)), options_(options), device_(device), precision_(precision) {
  options_.validate();
  core::check_precision_supported(device_, precision_, "dynamics training");
  if (device_.is_cpu()) {
    const DynamicsOptions& o = model_->options();
    const int64_t micro_batch = options_.batch_size / options_.grad_accumulation;
    const core::MemoryEstimate needs = estimate_training_memory(model_, micro_batch, precision_);
    core::check_fits_in_memory(needs.total(),
                               "training the dynamics model (" + std::to_string(o.layers) + " layers x " + std::to_string(o.width) + ", " +
                                   std::to_string(o.max_positions()) + " positions from dynamics.context_steps=" + std::to_string(o.context_steps) +
                                   ", micro-batches of " + std::to_string(micro_batch) + ")",
                               needs.breakdown(),
                               "lower dynamics.context_steps, dynamics.width or dynamics.layers, or dynamics_train.batch_size (or raise "
                               "dynamics_train.grad_accumulation)");
  }
  model_->to(device_);
  model_->train();
  optimizer_ = core::make_adamw(model_->decayed_parameters(), model_->other_parameters(), options_);
}

double DynamicsTrainer::learning_rate() const {
  return options_.learning_rate(step_);
}

DynamicsBatch DynamicsTrainer::to_device(const DynamicsBatch& b) const {
  return {b.tokens.to(device_, torch::kInt64), b.actions.to(device_), b.rewards.to(device_), b.dones.to(device_), b.mask.to(device_)};
}

void DynamicsTrainer::set_gradient_sync(const core::GradientSyncFactory& make) { gradient_sync_ = make(model_->parameters()); }

void DynamicsTrainer::share_across(const std::shared_ptr<core::Ranks>& ranks) {
  core::broadcast_module(*ranks, *model_);
  set_gradient_sync(ranks->gradient_sync());
}

core::Scalars DynamicsTrainer::train_step(const DynamicsBatch& host_batch) {
  const auto start = std::chrono::steady_clock::now();
  const double lr = learning_rate();
  core::set_learning_rate(*optimizer_, lr);

  // Forward, loss and backward per micro-batch; gradients add up over them, and only the last
  // micro-batch's backward exchanges them with the other ranks.
  const DynamicsBatch batch = to_device(host_batch);
  const int64_t micro = batch.tokens.size(0) / options_.grad_accumulation;
  optimizer_->zero_grad();
  core::Scalars sums;
  double loss_sum = 0;
  for (int64_t m = 0; m < options_.grad_accumulation; ++m) {
    auto part = [&](const torch::Tensor& t) { return t.narrow(0, m * micro, micro); };
    core::LossTerms loss;
    {
      core::AutocastGuard autocast(device_, precision_);
      loss = model_->compute_loss({part(batch.tokens), part(batch.actions), part(batch.rewards), part(batch.dones), part(batch.mask)});
    }
    gradient_sync_->before_backward(/*last=*/m + 1 == options_.grad_accumulation);
    (loss.total / static_cast<double>(options_.grad_accumulation)).backward();
    loss_sum += loss.total.item<double>();
    accumulate(sums, loss.logs);
  }
  gradient_sync_->finish();  // from here the gradients are the mean over all ranks
  const double grad_norm = torch::nn::utils::clip_grad_norm_(model_->parameters(), options_.grad_clip);
  optimizer_->step();
  ++step_;

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double tokens = static_cast<double>(batch.tokens.size(0) * batch.tokens.size(1) * model_->options().positions_per_step());
  core::Scalars scalars = {{"dynamics/loss", loss_sum / static_cast<double>(options_.grad_accumulation)}};
  for (const auto& [name, value] : sums) scalars.emplace_back("dynamics/" + name, value / static_cast<double>(options_.grad_accumulation));
  scalars.emplace_back("dynamics/lr", lr);
  scalars.emplace_back("dynamics/grad_norm", grad_norm);
  scalars.emplace_back("dynamics/tokens_per_s", tokens / seconds);
  return scalars;
}

core::Scalars DynamicsTrainer::evaluate(const std::vector<DynamicsBatch>& batches) {
  torch::NoGradGuard no_grad;
  model_->eval();
  core::Scalars sums;
  NextFrameTally tally;
  for (const auto& host_batch : batches) {
    core::AutocastGuard autocast(device_, precision_);
    const core::LossTerms loss = model_->compute_loss(to_device(host_batch), &tally);
    accumulate(sums, loss.logs);
  }
  model_->train();
  // Means of the batches' figures, except the changed / unchanged split: summed over all
  // batches' tokens (a split no batch has is left out).
  core::Scalars scalars;
  for (const auto& [name, value] : sums) {
    if (name.rfind("next_frame_changed", 0) == 0 || name.rfind("next_frame_unchanged", 0) == 0) continue;
    scalars.emplace_back("dynamics/holdout_" + name, value / static_cast<double>(batches.size()));
  }
  for (const auto& [name, value] : tally.figures()) scalars.emplace_back("dynamics/holdout_" + name, value);
  return scalars;
}

void DynamicsTrainer::save(core::CheckpointWriter& writer) {
  add_dynamics(writer, model_);
  writer.add_optimizer("dynamics_adamw", *optimizer_);
  writer.set_counter("dynamics_step", step_);
}

void DynamicsTrainer::restore(const core::Checkpoint& checkpoint) {
  const DynamicsOptions stored = dynamics_options_of(checkpoint);
  const DynamicsOptions& mine = model_->options();
  check_grid(checkpoint.path(), stored, mine);
  if (stored.layers != mine.layers || stored.width != mine.width || stored.heads != mine.heads ||
      stored.context_steps != mine.context_steps || stored.tokens_per_frame != mine.tokens_per_frame ||
      stored.vocab_size != mine.vocab_size || stored.num_actions != mine.num_actions || stored.action_dim != mine.action_dim) {
    throw core::Error("checkpoint " + checkpoint.path().string() + " holds a dynamics model of another shape than the config's (" +
                      std::to_string(stored.layers) + " layers x " + std::to_string(stored.width) + ", " +
                      std::to_string(stored.context_steps) + " steps against " + std::to_string(mine.layers) + " x " +
                      std::to_string(mine.width) + ", " + std::to_string(mine.context_steps) + ")");
  }
  checkpoint.restore_module(kDynamicsModule, *model_);
  checkpoint.restore_optimizer("dynamics_adamw", *optimizer_);
  step_ = checkpoint.counter("dynamics_step");
}

}  // namespace wm::dynamics
