#include "tools/agents.h"

#include <torch/torch.h>

#include "core/error.h"
#include "policy/policy_agent.h"
#include "tools/checkpoint_paths.h"

namespace wm::tools {

std::unique_ptr<envs::Agent> make_agent(const std::string& name, envs::VectorEnv& env, uint64_t seed, const std::string& key,
                                        c10::Device device, bool greedy) {
  if (name == "random") return std::make_unique<envs::RandomAgent>(env.action_space(), env.size(), seed);
  if (name == "expert") return std::make_unique<envs::DrivingExpertAgent>(env);
  if (!std::filesystem::exists(name)) {
    throw core::Error(key + " '" + name + "': expected random, expert, or a policy checkpoint (a file, or a run folder with one)");
  }
  torch::manual_seed(seed);  // the policy's draws
  return policy::load_policy_agent(resolve_checkpoint(name, "policy"), env, device, greedy);
}

}  // namespace wm::tools
