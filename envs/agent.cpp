#include "envs/agent.h"

#include "core/error.h"
#include "envs/driving_env.h"

namespace wm::envs {

RandomAgent::RandomAgent(const ActionSpace& space, int64_t slots, uint64_t seed) {
  for (int64_t i = 0; i < slots; ++i) slots_.emplace_back(space, seed + static_cast<uint64_t>(i));
}

std::vector<Action> RandomAgent::act(const at::Tensor& frames) {
  if (frames.size(0) != static_cast<int64_t>(slots_.size())) {
    throw core::Error("random agent: " + std::to_string(frames.size(0)) + " frames for " + std::to_string(slots_.size()) + " slots");
  }
  std::vector<Action> actions;
  for (auto& slot : slots_) actions.push_back(slot.act());
  return actions;
}

DrivingExpertAgent::DrivingExpertAgent(VectorEnv& env) : env_(dynamic_cast<ThreadedVectorEnv*>(&env)) {
  if (env_ == nullptr || dynamic_cast<DrivingEnv*>(&env_->env(0)) == nullptr) {
    throw core::Error("the 'expert' agent exists for the driving game only, not for '" + env.name() + "'");
  }
  experts_.assign(static_cast<size_t>(env.size()), DrivingExpert(!env.action_space().is_discrete()));
}

std::vector<Action> DrivingExpertAgent::act(const at::Tensor& /*frames*/) {
  std::vector<Action> actions;
  for (int64_t i = 0; i < env_->size(); ++i) actions.push_back(experts_[static_cast<size_t>(i)].act(static_cast<const DrivingEnv&>(env_->env(i))));
  return actions;
}

}  // namespace wm::envs
