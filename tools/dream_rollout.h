// What `wm dream` shows and measures: from N real start points of a source (the run's
// episodes, a video, or episodes played in its environment just now), C real frames prime the
// world model, which then imagines H steps S times under the chosen actions. Beside each dream,
// the real continuation and the tokenizer's reconstruction of it; per step, how far the dream
// has drifted from reality.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <vector>

namespace wm::tools {

struct DreamOptions {
  std::filesystem::path run;
  std::filesystem::path out;             // empty: <run>/dreams
  std::string tokenizer, dynamics, policy;  // checkpoints or run folders; empty: the run's own
  std::string from = "episodes";         // episodes | episodes:PATH | video:PATH | env
  std::string actions = "recorded";      // recorded | policy | file:CSV | constant:A (A: an index, or a,b,c)
  int64_t context = 4;                   // C: real frames that prime the dream
  int64_t horizon = 16;                  // H: imagined steps
  int64_t samples = 2;                   // S: dreams per start (the model's uncertainty)
  int64_t starts = 8;                    // N: start points the error curve averages over
  int64_t video_starts = 2;              // of them, shown one after the other in the video
  double temperature = 1.0;
  uint64_t seed = 0;
  std::vector<std::string> overrides;    // key=value on the run's config (e.g. dataset keys for video:)
};

// Everything drawn and measured, on the CPU. T = C + H frames per start; dream step h (0-based)
// takes the action after real frame C - 1 + h and imagines frame C + h.
struct DreamSet {
  at::Tensor real_frames;    // uint8 [N, T, H, W, 3]; zeros where the source has no frame
  at::Tensor real_valid;     // bool [N, T]
  at::Tensor recon_frames;   // uint8 [N, T, H, W, 3]: the real frames through the tokenizer
  at::Tensor real_tokens;    // int64 [N, T, K]
  at::Tensor real_actions;   // int64 [N, T] or float [N, T, A]: the action taken after each frame
  at::Tensor real_rewards;   // float [N, T]: the reward of that action
  at::Tensor real_dones;     // bool [N, T]: the episode ended after it
  at::Tensor dream_actions;  // [S, N, H] or [S, N, H, A]: the actions that drove the dreams
  at::Tensor dream_tokens;   // int64 [S, N, H, K]
  at::Tensor dream_frames;   // uint8 [S, N, H, H', W', 3]
  at::Tensor dream_rewards;  // float [S, N, H]
  at::Tensor dream_done_probs;  // float [S, N, H]
  int64_t context = 0;
  bool discrete_actions = true;
};

// The error of the dreams against reality k steps after the last real frame, averaged over
// starts and samples (k = 0: the last context frame, whose "dream" is its reconstruction).
// NaN where nothing could be compared (no real frame, or k = 0 for reward and termination).
struct DreamStepError {
  int64_t step = 0;
  double psnr_dream = 0;        // dB, decoded dream against the real frame
  double psnr_reconstruction = 0;  // dB, the tokenizer's reconstruction against it: the ceiling
  double token_accuracy = 0;    // share of the dream's tokens equal to the real frame's
  double reward_abs_error = 0;  // |predicted - real reward| of the step that led here
  double done_agreement = 0;    // (predicted p > 0.5) == the real episode end
  double predicted_reward = 0, real_reward = 0, done_probability = 0;
  int64_t compared = 0;         // start x sample pairs with a real frame at this step
};

// What the run and source are, in words, for the report.
struct DreamDescription {
  std::string run, tokenizer, dynamics, policy, source, actions, split, env;
  std::vector<std::string> action_names;  // empty: numbers
  bool comparable = true;  // the dreams took the recorded actions: reality is their ground truth
};

struct DreamResult {
  DreamSet set;
  std::vector<DreamStepError> errors;  // steps 0..H
  DreamDescription description;
  double seconds_imagine = 0, seconds_decode = 0;
};

// Loads the run's models and the source, checks every input (one line naming what is wrong),
// dreams, and measures. Writes nothing but a temporary episode store for --from env, under
// `scratch`, which the caller removes.
DreamResult dream_from_run(const DreamOptions& options, const std::filesystem::path& scratch);

std::vector<DreamStepError> dream_errors(const DreamSet& set);

}  // namespace wm::tools
