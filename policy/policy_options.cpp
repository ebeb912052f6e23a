#include "policy/policy_options.h"

#include <cmath>

#include "core/error.h"

namespace wm::policy {

const char* input_name(PolicyInput input) {
  switch (input) {
    case PolicyInput::kTokens: return "tokens";
    case PolicyInput::kFrames: return "frames";
    case PolicyInput::kPixels: return "pixels";
  }
  return "?";
}

void describe(core::ConfigSchema& schema, PolicyOptions& p) {
  schema.add_choice("input", &p.input, {{"tokens", PolicyInput::kTokens}, {"frames", PolicyInput::kFrames}, {"pixels", PolicyInput::kPixels}},
                    "what the policy sees: the codebook vectors of the frame's tokens, the decoded frame, or the real frame (model-free only)");
  schema.add("channels", &p.channels, "width of the conv encoder over the input grid", core::between(1, 1 << 16));
  schema.add("hidden", &p.hidden, "GRU state size, read by the actor and critic heads", core::between(1, 1 << 16));
  schema.add("shared_trunk", &p.shared_trunk, "one encoder and GRU under both heads (the value's regression shapes the actor's features)");
  schema.add("symlog_value", &p.symlog_value, "the critic predicts symlog(return), its loss in that scale (DreamerV3)");
  // Fixed when a run starts, from the tokenizer and the environment (set here by wm itself).
  schema.add("input_channels", &p.input_channels, "set by wm: code_dim (tokens) or 3 (frames)", core::at_least(0));
  schema.add("input_height", &p.input_height, "set by wm: the token grid's or the frame's height", core::at_least(0));
  schema.add("input_width", &p.input_width, "set by wm: the token grid's or the frame's width", core::at_least(0));
  schema.add("num_actions", &p.num_actions, "set by wm: discrete actions (0 for continuous)", core::at_least(0));
  schema.add("action_low", &p.action_low, "set by wm: continuous actions' lower bounds");
  schema.add("action_high", &p.action_high, "set by wm: continuous actions' upper bounds");
}

void PolicyOptions::validate() const {
  auto fail = [](const std::string& what) { throw core::Error("policy: " + what); };
  if (channels < 1) fail("channels " + std::to_string(channels) + " must be at least 1");
  if (hidden < 1) fail("hidden " + std::to_string(hidden) + " must be at least 1");
  if (input_channels < 1 || input_height < 1 || input_width < 1) {
    fail("input " + std::to_string(input_channels) + "x" + std::to_string(input_height) + "x" + std::to_string(input_width) +
         " is empty (the tokenizer fixes it)");
  }
  if (action_low.size() != action_high.size()) {
    fail("action_low has " + std::to_string(action_low.size()) + " bounds but action_high " + std::to_string(action_high.size()));
  }
  if ((num_actions > 0) == !action_low.empty()) {
    fail("num_actions = " + std::to_string(num_actions) + " with " + std::to_string(action_low.size()) +
         " continuous bounds: exactly one of discrete actions and continuous bounds must be set");
  }
  for (size_t i = 0; i < action_low.size(); ++i) {
    if (!(action_low[i] < action_high[i])) {
      fail("continuous action " + std::to_string(i) + " has low " + std::to_string(action_low[i]) + " >= high " + std::to_string(action_high[i]));
    }
  }
}

void describe(core::ConfigSchema& schema, PolicyTrainOptions& t) {
  core::describe_training(schema, t, "imagined trajectories");
  schema.add("horizon", &t.horizon, "imagined steps per trajectory", core::between(1, 100000));
  schema.add("context", &t.context, "real frames that prime the world model and burn in the policy's GRU", core::at_least(1));
  schema.add("gamma", &t.gamma, "discount", core::between(0, 1));
  schema.add("lambda", &t.lambda, "lambda-return mixing", core::between(0, 1));
  schema.add("entropy_weight", &t.entropy_weight, "weight of the entropy bonus", core::at_least(0));
  schema.add("normalize_returns", &t.normalize_returns, "divide advantages by the 5th-95th percentile range of returns (DreamerV3)");
  schema.add("normalize_advantages", &t.normalize_advantages, "advantages to zero mean and unit std over each batch");
  schema.add("epochs", &t.epochs, "passes over each batch: 1 = REINFORCE/A2C, more = PPO's clipped ratio", core::between(1, 1000));
  schema.add("clip_ratio", &t.clip_ratio, "PPO's epsilon: how far a later pass may move an action's probability", core::at_least(0));
  schema.add("clip_towers_apart", &t.clip_towers_apart, "grad_clip on the actor's and the critic's gradients apart, not on their joint norm");
  schema.add("temperature", &t.temperature, "the world model's sampling temperature while dreaming", core::at_least(0.001));
  using P = PolicyTrainOptions::DreamPrecision;
  schema.add_choice("dream_precision", &t.dream_precision, {{"auto", P::kAuto}, {"fp32", P::kFp32}, {"bf16", P::kBf16}},
                    "the world model's precision while dreaming: auto (bf16 where the device has bf16 arithmetic), fp32, bf16");
  schema.add("eval_episodes", &t.eval_episodes, "real-environment episodes per evaluation (0: none)", core::at_least(0));
  schema.add("tokenizer", &t.tokenizer, "tokenizer checkpoint or run folder (empty: this run's)");
  schema.add("dynamics", &t.dynamics, "dynamics checkpoint or run folder (empty: this run's)");
}

void PolicyTrainOptions::validate() const {
  core::TrainingOptions::validate("policy_train");
  auto fail = [](const std::string& key, const std::string& value, const std::string& range) {
    throw core::Error("policy_train." + key + " = " + value + " is outside its range: " + range);
  };
  if (horizon < 1) fail("horizon", std::to_string(horizon), "1 or more");
  if (context < 1) fail("context", std::to_string(context), "1 or more");
  if (!(gamma > 0 && gamma <= 1)) fail("gamma", std::to_string(gamma), "(0, 1]");
  if (!(lambda >= 0 && lambda <= 1)) fail("lambda", std::to_string(lambda), "0..1");
  if (!std::isfinite(entropy_weight) || entropy_weight < 0) fail("entropy_weight", std::to_string(entropy_weight), "0 or more");
  if (!std::isfinite(temperature) || temperature < 0) fail("temperature", std::to_string(temperature), "0 or more");
  if (epochs < 1 || epochs > 100) fail("epochs", std::to_string(epochs), "1..100");
  if (!(clip_ratio > 0 && clip_ratio <= 1)) fail("clip_ratio", std::to_string(clip_ratio), "(0, 1]");
  if (eval_episodes < 0) fail("eval_episodes", std::to_string(eval_episodes), "0 or more");
}

}  // namespace wm::policy
