#include "policy/policy_checkpoint.h"

#include <fmt/format.h>
#include <torch/optim/adamw.h>

#include "core/checkpoint_options.h"
#include "core/error.h"

namespace wm::policy {

namespace {

std::string text_of(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

void add_policy(core::CheckpointWriter& writer, ActorCritic& policy) {
  writer.add_module(kPolicyModule, *policy);
  core::set_options_text(writer, "policy_options", policy->options());
}

PolicyOptions policy_options_of(const core::Checkpoint& checkpoint) {
  if (checkpoint.text("policy_options").empty() || !checkpoint.has_module(kPolicyModule)) {
    throw core::Error("checkpoint " + checkpoint.path().string() + " holds no policy (is it a tokenizer or dynamics checkpoint?)");
  }
  return core::options_from_text<PolicyOptions>(checkpoint, "policy_options");
}

void restore_policy(const core::Checkpoint& checkpoint, ActorCritic& policy) {
  const PolicyOptions stored = policy_options_of(checkpoint);
  const PolicyOptions& mine = policy->options();
  auto check = [&](const char* key, const std::string& theirs, const std::string& ours) {
    if (theirs != ours) {
      throw core::Error("checkpoint " + checkpoint.path().string() + " has policy." + key + " = " + theirs + ", this run has " + ours);
    }
  };
  check("input", input_name(stored.input), input_name(mine.input));
  check("channels", std::to_string(stored.channels), std::to_string(mine.channels));
  check("hidden", std::to_string(stored.hidden), std::to_string(mine.hidden));
  check("shared_trunk", stored.shared_trunk ? "true" : "false", mine.shared_trunk ? "true" : "false");
  check("symlog_value", stored.symlog_value ? "true" : "false", mine.symlog_value ? "true" : "false");
  check("input_channels", std::to_string(stored.input_channels), std::to_string(mine.input_channels));
  check("input_height", std::to_string(stored.input_height), std::to_string(mine.input_height));
  check("input_width", std::to_string(stored.input_width), std::to_string(mine.input_width));
  check("num_actions", std::to_string(stored.num_actions), std::to_string(mine.num_actions));
  check("action_low", text_of(stored.action_low), text_of(mine.action_low));
  check("action_high", text_of(stored.action_high), text_of(mine.action_high));
  checkpoint.restore_module(kPolicyModule, *policy);
}

void add_policy_training(core::CheckpointWriter& writer, ActorCritic& policy, torch::optim::AdamW& optimizer, int64_t step, double return_scale) {
  add_policy(writer, policy);
  writer.add_optimizer("policy_adamw", optimizer);
  writer.set_counter("policy_step", step);
  writer.set_text("policy_return_scale", fmt::format("{:.17g}", return_scale));
}

void restore_policy_training(const core::Checkpoint& checkpoint, ActorCritic& policy, torch::optim::AdamW& optimizer, int64_t& step,
                             double& return_scale) {
  restore_policy(checkpoint, policy);
  checkpoint.restore_optimizer("policy_adamw", optimizer);
  step = checkpoint.counter("policy_step");
  const std::string scale = checkpoint.text("policy_return_scale");
  return_scale = scale.empty() ? 0.0 : std::stod(scale);
}

ActorCritic load_policy(const std::filesystem::path& path, c10::Device device) {
  const core::Checkpoint checkpoint = core::Checkpoint::load(path);
  ActorCritic policy(policy_options_of(checkpoint));
  checkpoint.restore_module(kPolicyModule, *policy);
  policy->to(device);
  policy->eval();
  return policy;
}

}  // namespace wm::policy
