#include "policy/policy_trainer.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>

#include "core/error.h"
#include "dynamics/dream_precision.h"
#include "policy/lambda_returns.h"
#include "policy/policy_checkpoint.h"
#include "tokenizer/tokenizer_checkpoint.h"

namespace wm::policy {

dynamics::WorldModel dreaming_model(const dynamics::WorldModel& model, PolicyTrainOptions::DreamPrecision wanted, c10::Device device) {
  using P = PolicyTrainOptions::DreamPrecision;
  core::Precision precision = core::Precision::kFp32;
  if (wanted == P::kBf16 || (wanted == P::kAuto && (device.is_cuda() || dynamics::cpu_has_bf16()))) precision = core::Precision::kBf16;
  dynamics::check_dream_precision(device, precision);
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

core::Scalars PolicyTrainer::train_step(const dynamics::DynamicsBatch& starts) {
  const auto start = std::chrono::steady_clock::now();
  const double lr = options_.learning_rate(step_);
  core::set_learning_rate(*optimizer_, lr);
  const int64_t B = starts.tokens.size(0), T = starts.tokens.size(1), H = options_.horizon;
  if (!dream_ || dream_->cache().batch() != B) {
    dream_.emplace(world_model_, B, dynamics::SamplingOptions{.temperature = options_.temperature});
  }

  // Imagine: the policy acts inside the world model for H steps from the real windows.
  const at::Tensor context_actions = starts.actions.narrow(1, 0, T - 1).to(device_);
  rollout_ = imagine_rollout(policy_, inputs_, *dream_, starts.tokens.to(device_), context_actions, starts.mask, H);
  const double imagine_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const ImaginedRollout& r = rollout_;

  // Targets: λ-returns of the imagined rewards, bootstrapped by the (frozen) values.
  const at::Tensor returns = lambda_returns(r.rewards, r.continues, r.values.detach(), options_.gamma, options_.lambda);  // [B, H]
  const at::Tensor weight = r.alive;
  const at::Tensor alive_steps = weight.sum().clamp_min(1.0);
  double scale = 1.0;
  if (options_.normalize_returns) {
    // DreamerV3: divide by the spread of returns (5th to 95th percentile), tracked with an
    // EMA, but never scale small returns up.
    const at::Tensor flat = returns.masked_select(weight > 0);
    const at::Tensor q = torch::quantile(flat, torch::tensor({0.05, 0.95}, flat.options()));
    const double range = (q[1] - q[0]).item<double>();
    return_scale_ = return_scale_ <= 0 ? range : 0.99 * return_scale_ + 0.01 * range;
    scale = std::max(1.0, return_scale_);
  }
  const at::Tensor advantages = (returns - r.values.narrow(1, 0, H).detach()) / scale;

  // REINFORCE with the value as baseline, an entropy bonus, and value regression.
  const at::Tensor actor_loss = -(weight * r.log_probs * advantages).sum() / alive_steps;
  const at::Tensor entropy = (weight * r.entropies).sum() / alive_steps;
  const at::Tensor value_error = r.values.narrow(1, 0, H) - returns;
  const at::Tensor value_loss = 0.5 * (weight * value_error.pow(2)).sum() / alive_steps;
  const at::Tensor loss = actor_loss - options_.entropy_weight * entropy + value_loss;
  optimizer_->zero_grad();
  loss.backward();
  const double grad_norm = torch::nn::utils::clip_grad_norm_(policy_->parameters(), options_.grad_clip);
  optimizer_->step();
  ++step_;

  return {{"policy/loss", loss.item<double>()},
          {"policy/actor_loss", actor_loss.item<double>()},
          {"policy/value_loss", value_loss.item<double>()},
          {"policy/imagined_return", (weight * r.rewards).sum(1).mean().item<double>()},
          {"policy/lambda_return", (weight * returns).sum().item<double>() / alive_steps.item<double>()},
          {"policy/entropy", entropy.item<double>()},
          {"policy/value_error", (weight * value_error.abs()).sum().item<double>() / alive_steps.item<double>()},
          {"policy/advantage_scale", scale},
          {"policy/imagined_done_rate", (1.0 - r.continues).mul(weight).sum().item<double>() / alive_steps.item<double>()},
          {"policy/imagined_steps_per_s", static_cast<double>(B * H) / imagine_seconds},
          {"policy/lr", lr},
          {"policy/grad_norm", grad_norm}};
}

void PolicyTrainer::save(core::CheckpointWriter& writer) {
  add_policy(writer, policy_);
  // The tokenizer travels with the policy: an agent reads real frames through it.
  tokenizer::add_tokenizer(writer, inputs_.tokenizer());
  writer.add_optimizer("policy_adamw", *optimizer_);
  writer.set_counter("policy_step", step_);
  writer.set_text("policy_return_scale", fmt::format("{:.17g}", return_scale_));
}

void PolicyTrainer::restore(const core::Checkpoint& checkpoint) {
  restore_policy(checkpoint, policy_);
  checkpoint.restore_optimizer("policy_adamw", *optimizer_);
  step_ = checkpoint.counter("policy_step");
  const std::string scale = checkpoint.text("policy_return_scale");
  return_scale_ = scale.empty() ? 0.0 : std::stod(scale);
}

}  // namespace wm::policy
