// `wm play`'s dreams: the models and start frames every page shares (PlayWorld), and one
// page's dream (PlaySession): C real frames from the source prime a world model of batch 1
// (its own KV cache and token draws); each action imagines the next frame, which is decoded by
// the tokenizer and encoded as PNG for the page. A trained policy, when the run has one, watches
// every frame (its recurrent state follows the dream whoever acts) and proposes the next
// action, so a person can hand over to it and take back at any step.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dynamics/imagination.h"
#include "tools/dream_models.h"
#include "viz/image_encoder.h"

namespace wm::tools {

struct PlayOptions {
  std::filesystem::path run;
  std::string from = "episodes";  // episodes | episodes:PATH | video:PATH | env
  std::string actions = "human";  // human | policy (the page starts with the policy acting)
  int64_t context = 0;            // real frames that prime a dream; 0: the world model's context - 1, at most 4
  double temperature = 1.0;
  double fps = 15;                // the pace the page asks frames at
  std::string device = "auto";    // where the models dream: a GPU when one is visible
  uint64_t seed = 0;
  std::vector<std::string> overrides;  // key=value on the run's config (dataset keys for video:)
};

// One dreamed (or real) frame as the page gets it.
struct PlayFrame {
  std::string png;              // H x W RGB
  int64_t step = 0;             // dreamed steps since the start (0: the real start frame)
  double reward = 0;            // predicted for the action that led here
  double done_probability = 0;  // the episode ends after that action
  std::string action;           // that action, as the page shows it ("" at the start)
  std::string policy_action;    // what the policy would do next ("" without a policy)
  bool recording = false;       // the session is recording (false again once the recording is full)
  double imagine_s = 0, decode_s = 0, encode_s = 0;
};

// What every session shares, loaded once: read-only after construction.
class PlayWorld {
 public:
  // Loads the run's models (and its policy where it has one) and the source; `scratch` holds
  // what --from env plays. Throws wm::core::Error naming what does not fit.
  PlayWorld(const PlayOptions& options, const std::filesystem::path& scratch);

  const PlayOptions& options() const { return options_; }
  const DreamModels& models() const { return models_; }
  c10::Device device() const { return device_; }
  const dynamics::WorldModel& dreamer() const { return dreamer_; }
  bool has_policy() const { return policy_.has_value(); }
  DreamPolicy& policy() { return *policy_; }
  int64_t context() const { return context_; }
  const std::vector<std::string>& action_names() const { return action_names_; }
  const std::vector<double>& action_low() const { return action_low_; }
  const std::vector<double>& action_high() const { return action_high_; }
  const std::string& source_description() const { return source_.description; }

  // A random real start from `rng`: frames uint8 [1, C, H, W, 3], actions [1, C - 1] (int64) or
  // [1, C - 1, A].
  struct Start {
    at::Tensor frames, actions;
  };
  Start draw_start(std::mt19937_64& rng) const;

  // The action a page sent, as the world model takes it ([] int64 or [A] float), or
  // wm::core::Error with a one-line reason: an index outside 0..n-1, a vector of the wrong
  // length, a value outside the bounds, or not a number.
  at::Tensor parse_action(const nlohmann::json& value) const;
  std::string describe_action(const at::Tensor& action) const;

 private:
  PlayOptions options_;
  c10::Device device_{c10::kCPU};
  DreamModels models_;
  dynamics::WorldModel dreamer_{nullptr};
  std::optional<DreamPolicy> policy_;
  DreamSource source_;
  std::shared_ptr<dataloader::WindowSource> pool_;  // held-out episodes where long enough
  int64_t context_ = 1;
  std::vector<std::string> action_names_;
  std::vector<double> action_low_, action_high_;  // continuous actions' bounds
};

class PlaySession {
 public:
  PlaySession(PlayWorld& world, uint64_t seed);

  // A new random real start; returns its last real frame (step 0).
  PlayFrame restart();
  // One imagined step under `action` (PlayWorld::parse_action), or under the policy's
  // proposal when `action` is undefined (wm::core::Error without a policy).
  PlayFrame step(const at::Tensor& action);
  void set_temperature(double temperature);
  double temperature() const { return temperature_; }
  // The real frame this dream started from (PNG).
  const std::string& start_png() const { return start_png_; }

  // Recording: the frames shown from now on, with the actions that led to them, up to ten
  // minutes' worth at the page's pace (then it stops by itself).
  void start_recording();
  void stop_recording() { recording_ = false; }
  bool recording() const { return recording_; }
  int64_t recorded_frames() const { return static_cast<int64_t>(recorded_frames_.size()); }
  // The recording so far as an mp4 (the dream visualizer's writer, under `scratch`) and as CSV
  // (step, action, reward, done_probability); throws when nothing was recorded.
  std::string recording_mp4(const std::filesystem::path& scratch, double fps) const;
  std::string recording_csv() const;

 private:
  PlayFrame show(const at::Tensor& tokens, int64_t step);  // tokens int64 [1, K]: decoded, encoded
  void watch(const at::Tensor& tokens);                    // the policy's state follows the frame

  PlayWorld& world_;
  std::mt19937_64 rng_;
  uint64_t seed_;
  double temperature_;
  std::optional<dynamics::Imagination> dream_;
  viz::ImageEncoder encoder_;
  std::string start_png_;
  int64_t step_ = 0;
  at::Tensor policy_state_, policy_proposal_;  // [1, 2 * hidden]; [] / [A]
  bool recording_ = false;
  std::vector<at::Tensor> recorded_frames_;  // uint8 [H, W, 3]
  std::vector<std::string> recorded_rows_;   // CSV rows
};

}  // namespace wm::tools
