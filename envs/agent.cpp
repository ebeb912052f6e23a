#include "envs/agent.h"

#include <ATen/ATen.h>

#include <cmath>

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

ExploringAgent::ExploringAgent(std::unique_ptr<Agent> inner, const ActionSpace& space, int64_t slots, double epsilon, uint64_t seed)
    : inner_(std::move(inner)), random_(space, slots, seed ^ 0x9e3779b97f4a7c15ull), epsilon_(epsilon), coin_(seed) {
  if (!(epsilon >= 0.0 && epsilon <= 1.0)) throw core::Error("exploration epsilon " + std::to_string(epsilon) + " is outside [0, 1]");
}

std::string ExploringAgent::name() const { return inner_->name() + " (" + std::to_string(std::lround(100.0 * epsilon_)) + "% random actions)"; }

std::vector<Action> ExploringAgent::act(const at::Tensor& frames) {
  std::vector<Action> actions = inner_->act(frames);
  const std::vector<Action> random = random_.act(frames);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (size_t i = 0; i < actions.size(); ++i) {
    if (unit(coin_) < epsilon_) actions[i] = random[i];
  }
  return actions;
}

ReturnStats summarize_returns(const std::vector<double>& returns) {
  ReturnStats s;
  if (returns.empty()) return s;
  for (double r : returns) s.mean += r;
  s.mean /= static_cast<double>(returns.size());
  for (double r : returns) s.std += (r - s.mean) * (r - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(returns.size()));
  return s;
}

std::vector<double> play_episodes(Agent& agent, VectorEnv& env, int64_t episodes, uint64_t seed) {
  const FrameSpec spec = env.frame_spec();
  std::vector<uint8_t> frames(static_cast<size_t>(env.size() * spec.bytes()));
  const at::Tensor view = at::from_blob(frames.data(), {env.size(), spec.height, spec.width, 3}, at::kByte);
  std::vector<StepResult> results;
  std::vector<double> running(static_cast<size_t>(env.size()), 0.0), returns;
  env.reset(seed, frames.data());
  for (int64_t i = 0; i < env.size(); ++i) agent.episode_ended(i);  // fresh state for the first episodes
  while (static_cast<int64_t>(returns.size()) < episodes) {
    const std::vector<Action> actions = agent.act(view);
    env.step(actions, frames.data(), results);
    for (int64_t i = 0; i < env.size(); ++i) {
      running[static_cast<size_t>(i)] += results[static_cast<size_t>(i)].reward;
      if (results[static_cast<size_t>(i)].done()) {
        returns.push_back(running[static_cast<size_t>(i)]);
        running[static_cast<size_t>(i)] = 0.0;
        agent.episode_ended(i);
      }
    }
  }
  returns.resize(static_cast<size_t>(episodes));
  return returns;
}

}  // namespace wm::envs
