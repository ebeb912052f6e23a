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

struct LoadedDynamics {
  WorldModel model{nullptr};
  std::string content_hash;
};

// Loads a dynamics checkpoint onto `device`, in eval mode. `expected`, when given, must
// agree on what the data fixes (tokens per frame, vocabulary, action space): a mismatch is
// a wm::core::Error naming both values.
LoadedDynamics load_dynamics(const std::filesystem::path& path, c10::Device device, const DynamicsOptions* expected = nullptr);

}  // namespace wm::dynamics
