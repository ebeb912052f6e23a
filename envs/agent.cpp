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

ExploringAgent::ExploringAgent(std::unique_ptr<Agent> inner, const ActionSpace& space, int64_t slots, double epsilon, uint64_t seed,
                               int64_t hold)
    : inner_(std::move(inner)),
      random_(space, slots, seed ^ 0x9e3779b97f4a7c15ull),
      epsilon_(epsilon),
      hold_(hold),
      excursions_(static_cast<size_t>(slots)),
      coin_(seed) {
  if (!(epsilon >= 0.0 && epsilon <= 1.0)) throw core::Error("exploration epsilon " + std::to_string(epsilon) + " is outside [0, 1]");
  if (hold < 1) throw core::Error("exploration hold " + std::to_string(hold) + " is below 1 step");
  // An excursion starts (and takes this step) with chance p at each step outside one and lasts
  // h steps on average; between two, (1 - p) / p steps on average are the inner agent's. The
  // random share h / ((1 - p) / p + h) is epsilon when p = epsilon / (h (1 - epsilon) + epsilon).
  const double h = static_cast<double>(hold);
  start_chance_ = epsilon / (h * (1.0 - epsilon) + epsilon);
}

std::string ExploringAgent::name() const {
  std::string name = inner_->name() + " (" + std::to_string(std::lround(100.0 * epsilon_)) + "% random actions";
  if (hold_ > 1) name += ", held " + std::to_string(hold_) + " steps on average";
  return name + ")";
}

void ExploringAgent::episode_ended(int64_t slot) {
  excursions_[static_cast<size_t>(slot)].steps_left = 0;
  inner_->episode_ended(slot);
}

std::vector<Action> ExploringAgent::act(const at::Tensor& frames) {
  std::vector<Action> actions = inner_->act(frames);
  const std::vector<Action> random = random_.act(frames);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int64_t> length(1, 2 * hold_ - 1);
  for (size_t i = 0; i < actions.size(); ++i) {
    Excursion& excursion = excursions_[i];
    if (excursion.steps_left == 0 && unit(coin_) < start_chance_) excursion = {random[i], length(coin_)};
    if (excursion.steps_left > 0) {
      actions[i] = excursion.action;
      --excursion.steps_left;
    }
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
