// The agent a command names: "random", "expert" (the driving game's scripted driver), or a
// trained policy (a checkpoint file, or a run folder's newest valid one).
#pragma once

#include <memory>
#include <string>

#include "envs/agent.h"

namespace wm::tools {

// `key` names the config key or flag the name came from, for the error line.
std::unique_ptr<envs::Agent> make_agent(const std::string& name, envs::VectorEnv& env, uint64_t seed, const std::string& key);

}  // namespace wm::tools
