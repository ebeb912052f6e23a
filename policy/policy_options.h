// The actor-critic (the `policy:` config section, stored in every policy checkpoint) and
// how it learns in imagination (`policy_train:`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_schema.h"
#include "core/training_options.h"

namespace wm::policy {

// What the policy sees of a frame.
enum class PolicyInput {
  kTokens,  // the codebook vectors of the frame's tokens, [code_dim, h, w]: no pixels in dreams
  kFrames,  // the tokenizer's reconstruction of the frame, [3, H, W] (IRIS's choice)
  kPixels,  // the real frame itself, [3, H, W]: a policy that never dreams (wm train modelfree)
};

// "tokens" | "frames" | "pixels", as the config names them.
const char* input_name(PolicyInput input);

struct PolicyOptions {
  PolicyInput input = PolicyInput::kTokens;
  int64_t channels = 64;   // width of the conv encoder over the input grid
  int64_t hidden = 256;    // the GRU's state, read by both heads
  // One tower (encoder, GRU, MLP) under both heads instead of one per head, as Atari's A2C and
  // PPO have it: the value's regression then trains the features the actor reads. Off by
  // default: on the signal-world test a shared trunk does not learn to read its frame in 75
  // updates of 8 passes, where two towers do (actor_critic.h).
  bool shared_trunk = false;
  // The critic predicts symlog(return) (DreamerV3): its regression error stays a few units
  // whatever the returns' scale, so it cannot swamp the actor's gradient in a shared trunk.
  bool symlog_value = false;
  // Fixed by the tokenizer and the environment when a run starts (wm sets them).
  int64_t input_channels = 0;  // code_dim (tokens) or 3 (frames)
  int64_t input_height = 0;    // grid height (tokens) or frame height (frames)
  int64_t input_width = 0;
  int64_t num_actions = 0;     // discrete actions (> 0), else 0
  std::vector<double> action_low, action_high;  // continuous actions: one bound pair per dimension

  bool discrete_actions() const { return num_actions > 0; }
  int64_t action_dim() const { return static_cast<int64_t>(action_low.size()); }
  // Throws wm::core::Error naming the value.
  void validate() const;
};

void describe(core::ConfigSchema& schema, PolicyOptions& policy);

// The shared options (batch_size counts imagined trajectories) and imagination's own.
struct PolicyTrainOptions : core::TrainingOptions {
  // IRIS: lr 1e-4, clip 10, 64 trajectories; no warm-up is needed for REINFORCE here.
  PolicyTrainOptions()
      : core::TrainingOptions{.steps = 2000, .batch_size = 64, .lr = 3e-4, .warmup_steps = 10, .grad_clip = 10.0, .eval_every = 200} {}
  int64_t horizon = 20;          // imagined steps per trajectory
  int64_t context = 4;           // real frames that prime the world model and burn in the GRU
  double gamma = 0.995;          // discount
  double lambda = 0.95;          // lambda-return mixing
  double entropy_weight = 0.001; // bonus on the policy's entropy
  // DreamerV3: advantages divided by max(1, the 5th-95th percentile range of the returns),
  // that range tracked with an EMA; off: raw advantages (IRIS).
  bool normalize_returns = false;
  // Advantages shifted and scaled to zero mean and unit spread over each batch's lived steps
  // (the usual A2C/PPO practice): the actor's step no longer grows with the reward scale.
  bool normalize_advantages = false;
  // Passes over each batch of trajectories: 1 is REINFORCE / A2C (IRIS); more re-live the
  // batch with the updated weights under PPO's clipped ratio — more learning per dreamed or
  // played step, for the price of the policy's own forward and backward passes.
  int64_t epochs = 1;
  double clip_ratio = 0.2;       // PPO's epsilon: how far a later pass may move an action's probability
  // grad_clip on the actor's and the critic's gradients apart instead of on their joint norm,
  // where the critic's (tens of times larger) scales the actor's step down. Off by default:
  // the one demo run with it on ended at 46.0 against 102.6 (BENCHMARKS.md).
  bool clip_towers_apart = false;
  double temperature = 1.0;      // the world model's sampling temperature while dreaming
  enum class DreamPrecision { kAuto, kFp32, kBf16 };
  DreamPrecision dream_precision = DreamPrecision::kAuto;  // auto: bf16 where the device has bf16 arithmetic
  int64_t eval_episodes = 4;     // real-environment episodes per evaluation (0: none)
  std::string tokenizer;         // checkpoint or run folder; empty: this run's
  std::string dynamics;          // checkpoint or run folder; empty: this run's

  // Throws wm::core::Error naming the value.
  void validate() const;
};

void describe(core::ConfigSchema& schema, PolicyTrainOptions& train);

}  // namespace wm::policy
