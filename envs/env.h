// The environment interface every data source of experience implements: the built-in
// driving game, the Gymnasium bridge, and whatever comes later.
//
// Observations are RGB uint8 frames [H, W, 3] written into caller-owned memory, so a vector
// of environments renders straight into one batch buffer [N, H, W, 3] with no copies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wm::envs {

struct FrameSpec {
  int height = 64;
  int width = 64;
  int64_t bytes() const { return int64_t{height} * width * 3; }
};

// Discrete: an index in [0, n). Box: `dim` floats, each within [low[i], high[i]].
struct ActionSpace {
  enum class Kind { kDiscrete, kBox };
  Kind kind = Kind::kDiscrete;
  int64_t n = 0;
  int64_t dim = 0;
  std::vector<float> low, high;

  static ActionSpace discrete(int64_t n);
  static ActionSpace box(std::vector<float> low, std::vector<float> high);
  bool is_discrete() const { return kind == Kind::kDiscrete; }
  std::string describe() const;  // "discrete(9)" or "box(2, [-1,1]x[-1,1])"
};

// One action; `index` is used by discrete spaces, `values` by box spaces.
struct Action {
  int64_t index = 0;
  std::vector<float> values;

  static Action discrete(int64_t index) { return Action{index, {}}; }
  static Action box(std::vector<float> values) { return Action{0, std::move(values)}; }
};

// Throws wm::core::Error naming the action and the space when `action` is outside it.
void validate_action(const ActionSpace& space, const Action& action, const std::string& env_name);

struct StepResult {
  float reward = 0.0f;
  bool terminated = false;  // the episode ended inside the environment (crash, game over)
  bool truncated = false;   // cut by a step limit; the state was not terminal
  bool done() const { return terminated || truncated; }
};

class Env {
 public:
  virtual ~Env() = default;
  virtual std::string name() const = 0;
  virtual FrameSpec frame_spec() const = 0;
  virtual const ActionSpace& action_space() const = 0;
  // Starts an episode; the same seed gives the same episode. Writes the first frame.
  virtual void reset(uint64_t seed, uint8_t* frame) = 0;
  // Advances one step and writes the next frame; an invalid action throws.
  virtual StepResult step(const Action& action, uint8_t* frame) = 0;
};

}  // namespace wm::envs
