#include "tools/agents.h"

#include "core/error.h"

namespace wm::tools {

std::unique_ptr<envs::Agent> make_agent(const std::string& name, envs::VectorEnv& env, uint64_t seed, const std::string& key) {
  if (name == "random") return std::make_unique<envs::RandomAgent>(env.action_space(), env.size(), seed);
  if (name == "expert") return std::make_unique<envs::DrivingExpertAgent>(env);
  throw core::Error(key + " '" + name + "': expected random or expert");
}

}  // namespace wm::tools
