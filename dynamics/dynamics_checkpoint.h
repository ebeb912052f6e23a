// Dynamics checkpoints: the world model with its options, so imagination and the policy
// trainer rebuild it from the file alone.
#pragma once

#include <c10/core/Device.h>

#include <filesystem>
#include <string>

#include "core/checkpoint.h"
#include "dynamics/world_model.h"

namespace wm::dynamics {

constexpr const char* kDynamicsModule = "dynamics";

// Adds the model and its options (as YAML) to a checkpoint being written.
void add_dynamics(core::CheckpointWriter& writer, WorldModel& model);

// The options a checkpoint's world model was built with.
DynamicsOptions dynamics_options_of(const core::Checkpoint& checkpoint);

// A model that reads the previous frame place by place (the copy path) only fits data of
// the grid it was trained on: a wm::core::Error naming both grids when `data`'s differs
// (nothing to check where either is unknown).
void check_grid(const std::filesystem::path& checkpoint, const DynamicsOptions& stored, const DynamicsOptions& data);

struct LoadedDynamics {
  WorldModel model{nullptr};
  std::string content_hash;
};

// Loads a dynamics checkpoint onto `device`, in eval mode. `expected`, when given, must
// agree on what the data fixes (tokens per frame, vocabulary, action space, and the grid for
// the copy path): a mismatch is a wm::core::Error naming both values.
LoadedDynamics load_dynamics(const std::filesystem::path& path, c10::Device device, const DynamicsOptions* expected = nullptr);

}  // namespace wm::dynamics
