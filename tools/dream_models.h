// What a dream needs from a run, found the way `wm dream` and `wm play` both find it: the
// tokenizer and world model (the ones named, else the run's newest), the policy that may act
// in the dream, and the source of real frames that start it (`--from`). Every check names the
// file and what does not fit.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataloader/window_source.h"
#include "dynamics/world_model.h"
#include "policy/actor_critic.h"
#include "policy/policy_inputs.h"
#include "tokenizer/vq_model.h"
#include "tools/wm_config.h"

namespace wm::tools {

// Whether a run folder holds a valid checkpoint of `kind`.
bool has_checkpoint(const std::filesystem::path& run, const std::string& kind);

struct DreamModels {
  tokenizer::VQModel tokenizer{nullptr};  // eval mode
  dynamics::WorldModel world{nullptr};
  std::filesystem::path tokenizer_path, dynamics_path;
};

// `tokenizer` / `dynamics`: a checkpoint or run folder each, empty: the run's (its tokenizer,
// or the one its dynamics training read through). Throws when they do not fit each other.
DreamModels load_dream_models(const std::filesystem::path& run, const WmConfig& config, const std::string& tokenizer,
                              const std::string& dynamics, c10::Device device);

struct DreamPolicy {
  policy::ActorCritic actor{nullptr};  // eval mode
  std::optional<policy::PolicyInputs> inputs;
};

// The policy at `path` (a checkpoint), checked to act in `world`'s action space on tokens.
DreamPolicy load_dream_policy(const std::string& path, const dynamics::DynamicsOptions& world, c10::Device device);

// The source of real frames `from` names: episodes (the run's), episodes:PATH, video:PATH, or
// env (episodes played now in the run's environment by `policy_path`, else the driving
// expert or random actions, into `scratch`, until one has `need` steps).
struct DreamSource {
  std::shared_ptr<dataloader::WindowSource> all;
  std::string description;
};
DreamSource open_dream_source(const std::string& from, const std::filesystem::path& run, const WmConfig& config,
                              const std::filesystem::path& scratch, const std::string& policy_path, uint64_t seed, int64_t need);

// The names of the world model's discrete actions where they are known (the driving game's 9:
// "LEFT BRAKE" ... "RIGHT GAS"), else empty.
std::vector<std::string> action_names(const WmConfig& config, const dynamics::DynamicsOptions& world);

// Throws unless `source` holds RGB frames of the tokenizer's size and actions of the world
// model's space.
void check_source_fits(const DreamSource& source, const DreamModels& models);

}  // namespace wm::tools
