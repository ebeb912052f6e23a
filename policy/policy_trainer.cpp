#include "policy/policy_trainer.h"

#include <torch/torch.h>

#include <chrono>

#include "core/error.h"
#include "core/seed_mix.h"
#include "dynamics/dream_precision.h"
#include "policy/policy_checkpoint.h"
#include "tokenizer/tokenizer_checkpoint.h"

namespace wm::policy {

dynamics::WorldModel dreaming_model(const dynamics::WorldModel& model, PolicyTrainOptions::DreamPrecision wanted, c10::Device device) {
  using P = PolicyTrainOptions::DreamPrecision;
  core::Precision precision = core::Precision::kFp32;
  if (wanted == P::kBf16 || (wanted == P::kAuto && (device.is_cuda() || core::cpu_has_bf16()))) precision = core::Precision::kBf16;
  core::check_precision_supported(device, precision, "the policy's dreams");
  return dynamics::dream_model(model, precision);
}

PolicyTrainer::PolicyTrainer(ActorCritic policy, dynamics::WorldModel world_model, PolicyInputs inputs, PolicyTrainOptions options,
                             c10::Device device)
    : policy_(std::move(policy)), world_model_(std::move(world_model)), inputs_(std::move(inputs)), options_(std::move(options)), device_(device) {
  options_.validate();
  if (options_.context >= world_model_->options().context_steps) {
    throw core::Error("policy_train.context = " + std::to_string(options_.context) + " leaves no room in the world model's context of " +
                      std::to_string(world_model_->options().context_steps) + " steps (at most " +
                      std::to_string(world_model_->options().context_steps - 1) + ")");
  }
  policy_->to(device_);
  policy_->train();
  std::vector<torch::Tensor> decayed, other;
  for (const auto& p : policy_->parameters()) (p.dim() >= 2 ? decayed : other).push_back(p);
  optimizer_ = core::make_adamw(decayed, other, options_);
}

void PolicyTrainer::set_world_model(dynamics::WorldModel world_model) {
  world_model_ = std::move(world_model);
  dream_.reset();  // the next batch makes a dream (and its cache) for the new model
}

void PolicyTrainer::set_gradient_sync(const core::GradientSyncFactory& make) { gradient_sync_ = make(policy_->parameters()); }

void PolicyTrainer::share_across(const std::shared_ptr<core::Ranks>& ranks) {
  core::broadcast_module(*ranks, *policy_);
  set_gradient_sync(ranks->gradient_sync());
  ranks_ = ranks;
}

core::Scalars PolicyTrainer::train_step(const dynamics::DynamicsBatch& starts) {
  const auto start = std::chrono::steady_clock::now();
  const double lr = options_.learning_rate(step_);
  core::set_learning_rate(*optimizer_, lr);
  const int64_t B = starts.tokens.size(0), T = starts.tokens.size(1), H = options_.horizon;
  if (!dream_ || dream_->cache().batch() != B) {
    dream_.emplace(world_model_, B, dynamics::SamplingOptions{.temperature = options_.temperature});
  }
  // Each step's dream from its own draws, keyed by the run's seed: a resumed run dreams the same.
  dream_->reseed(core::seed_for(dream_seed_, static_cast<uint64_t>(step_)));

  // Imagine: the policy acts inside the world model for H steps from the real windows.
  const at::Tensor context_actions = starts.actions.narrow(1, 0, T - 1).to(device_);
  rollout_ = imagine_rollout(policy_, inputs_, *dream_, starts.tokens.to(device_), context_actions, starts.mask, H);
  const double imagine_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ImaginedRollout& r = rollout_;

  core::Scalars scalars = update_actor_critic(policy_, *optimizer_, *gradient_sync_, r, options_, return_scale_, ranks_.get());
  ++step_;

  scalars.insert(scalars.end(), {{"policy/imagined_return", (r.alive * r.rewards).sum(1).mean().item<double>()},
                                 {"policy/imagined_done_rate", ((1.0 - r.continues) * r.alive).sum().item<double>() / r.alive.sum().clamp_min(1.0).item<double>()},
                                 {"policy/imagined_steps_per_s", static_cast<double>(B * H) / imagine_seconds},
                                 {"policy/lr", lr}});
  return scalars;
}

void PolicyTrainer::save(core::CheckpointWriter& writer) {
  add_policy_training(writer, policy_, *optimizer_, step_, return_scale_);
  // The tokenizer travels with the policy: an agent reads real frames through it.
  tokenizer::add_tokenizer(writer, inputs_.tokenizer());
}

void PolicyTrainer::restore(const core::Checkpoint& checkpoint) { restore_policy_training(checkpoint, policy_, *optimizer_, step_, return_scale_); }

}  // namespace wm::policy
