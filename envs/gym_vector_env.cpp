#include "envs/gym_vector_env.h"

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "wm/build_config.h"

namespace wm::envs {

GymVectorEnv::GymVectorEnv(const EnvOptions& options) : env_id_(options.id), frame_{options.height, options.width} {
  GymWorkerOptions worker;
  worker.env_id = options.id;
  worker.python = options.python.empty() ? std::string(WM_PYTHON) : options.python;
  worker.worker_script = std::string(WM_SOURCE_DIR) + "/envs/python/gym_worker.py";
  worker.frame = frame_;
  worker.frame_skip = options.frame_skip;
  worker.sticky_actions = options.sticky_actions;
  worker.life_loss_ends_episode = options.life_loss_ends_episode;
  worker.max_frames = options.max_frames;
  worker.noop_max = options.noop_max;
  worker.timeout_s = options.worker_timeout_s;
  if (!std::filesystem::exists(worker.python)) {
    throw core::Error(options.id + ": Python interpreter " + worker.python +
                      " not found (run scripts/setup.sh, or set env.python)");
  }
  for (int64_t i = 0; i < options.num_envs; ++i) workers_.push_back(std::make_unique<GymWorker>(worker));
  next_seed_.resize(workers_.size());
}

std::vector<pid_t> GymVectorEnv::worker_pids() const {
  std::vector<pid_t> pids;
  for (const auto& w : workers_) pids.push_back(w->pid());
  return pids;
}

void GymVectorEnv::reset(uint64_t base_seed, uint8_t* frames) {
  const int64_t bytes = frame_.bytes();
  for (size_t i = 0; i < workers_.size(); ++i) {
    next_seed_[i] = base_seed + i;
    workers_[i]->send({{"cmd", "reset"}, {"seed", next_seed_[i]}});
    next_seed_[i] += workers_.size();
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->receive();
    std::memcpy(frames + static_cast<int64_t>(i) * bytes, workers_[i]->frame(), static_cast<size_t>(bytes));
  }
}

void GymVectorEnv::step(const std::vector<Action>& actions, uint8_t* frames, std::vector<StepResult>& results) {
  if (actions.size() != workers_.size()) {
    throw core::Error(env_id_ + ": got " + std::to_string(actions.size()) + " actions for " +
                      std::to_string(workers_.size()) + " environments");
  }
  for (const Action& action : actions) validate_action(action_space(), action, env_id_);
  results.resize(workers_.size());
  for (size_t i = 0; i < workers_.size(); ++i) {
    nlohmann::json command = {{"cmd", "step"}};
    if (action_space().is_discrete()) command["action"] = actions[i].index;
    else command["action"] = actions[i].values;
    workers_[i]->send(command);
  }
  std::vector<size_t> finished;
  for (size_t i = 0; i < workers_.size(); ++i) {
    const nlohmann::json reply = workers_[i]->receive();
    results[i] = {reply.at("reward").get<float>(), reply.at("terminated").get<bool>(), reply.at("truncated").get<bool>()};
    if (results[i].done()) {
      workers_[i]->send({{"cmd", "reset"}, {"seed", next_seed_[i]}});
      next_seed_[i] += workers_.size();
      finished.push_back(i);
    }
  }
  for (size_t i : finished) workers_[i]->receive();
  const int64_t bytes = frame_.bytes();
  for (size_t i = 0; i < workers_.size(); ++i) {
    std::memcpy(frames + static_cast<int64_t>(i) * bytes, workers_[i]->frame(), static_cast<size_t>(bytes));
  }
}

}  // namespace wm::envs
