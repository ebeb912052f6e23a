// The agent a command names: "random", "expert" (the driving game's scripted driver), or a
// trained policy (a checkpoint file, or a run folder's newest valid one).
#pragma once

#include <memory>
#include <string>

#include "envs/agent.h"

namespace wm::tools {

// `key` names the config key or flag the name came from, for the error line; a policy runs
// on `device`, drawing its actions (greedy: the most likely one).
std::unique_ptr<envs::Agent> make_agent(const std::string& name, envs::VectorEnv& env, uint64_t seed, const std::string& key,
                                        c10::Device device = c10::Device(c10::kCPU), bool greedy = false);

}  // namespace wm::tools
