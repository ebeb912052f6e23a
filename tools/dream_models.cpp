#include "tools/dream_models.h"

#include <torch/torch.h>

#include "core/error.h"
#include "dataloader/data_source.h"
#include "dataloader/episode_store.h"
#include "dynamics/dynamics_checkpoint.h"
#include "envs/env_options.h"
#include "policy/policy_checkpoint.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/agents.h"
#include "tools/checkpoint_paths.h"
#include "tools/collect_episodes.h"

namespace wm::tools {

namespace {

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

bool has_checkpoint(const std::filesystem::path& run, const std::string& kind) {
  try {
    resolve_checkpoint(run.string(), kind);
    return true;
  } catch (const core::Error&) {
    return false;
  }
}

DreamModels load_dream_models(const std::filesystem::path& run, const WmConfig& config, const std::string& tokenizer,
                              const std::string& dynamics, c10::Device device) {
  const std::string tokenizer_given =
      !tokenizer.empty() ? tokenizer
                         : (!config.dynamics_train.tokenizer.empty() && !has_checkpoint(run, "tokenizer") ? config.dynamics_train.tokenizer : run.string());
  DreamModels m;
  m.tokenizer_path = resolve_checkpoint(tokenizer_given, "tokenizer");
  m.dynamics_path = resolve_checkpoint(dynamics.empty() ? run.string() : dynamics, "dynamics");
  m.tokenizer = tokenizer::load_tokenizer(m.tokenizer_path, device).model;
  m.tokenizer->eval();
  m.world = dynamics::load_dynamics(m.dynamics_path, device).model;
  const auto& t = m.tokenizer->options();
  const auto& w = m.world->options();
  if (t.tokens_per_frame() != w.tokens_per_frame || t.vocab_size != w.vocab_size) {
    throw core::Error(m.dynamics_path.string() + " models " + std::to_string(w.tokens_per_frame) + " tokens of " + std::to_string(w.vocab_size) +
                      " codes a frame, the tokenizer " + m.tokenizer_path.string() + " writes " + std::to_string(t.tokens_per_frame()) + " of " +
                      std::to_string(t.vocab_size));
  }
  return m;
}

DreamPolicy load_dream_policy(const std::string& path, const dynamics::DynamicsOptions& world, c10::Device device) {
  DreamPolicy p;
  p.actor = policy::load_policy(path, device);
  const auto& o = p.actor->options();
  if (o.discrete_actions() != world.discrete_actions() || (o.discrete_actions() ? o.num_actions != world.num_actions : o.action_dim() != world.action_dim)) {
    throw core::Error(path + " acts in another action space than the world model imagines");
  }
  if (o.input == policy::PolicyInput::kPixels) throw core::Error(path + " reads pixels: a pixel policy cannot act in a dream of tokens");
  p.inputs.emplace(tokenizer::load_tokenizer(path, device).model, o.input);
  p.actor->eval();
  return p;
}

DreamSource open_dream_source(const std::string& from, const std::filesystem::path& run, const WmConfig& config,
                              const std::filesystem::path& scratch, const std::string& policy_path, uint64_t seed, int64_t need) {
  if (from == "env") {
    // Episodes played now in the run's environment: by its policy when it has one, else the
    // scripted expert (the driving game) or random actions.
    const std::unique_ptr<envs::VectorEnv> env = envs::make_vector_env(config.env);
    const std::string agent_name = !policy_path.empty() ? policy_path : (envs::is_builtin_env(config.env.id) ? "expert" : "random");
    const std::unique_ptr<envs::Agent> agent = make_agent(agent_name, *env, seed, "--policy");
    dataloader::EpisodeStore store(scratch / "episodes", dataloader::EpisodeStore::Mode::kAppend);
    for (int attempt = 0; attempt < 8; ++attempt) {
      collect_episodes(*env, *agent, store, std::max<int64_t>(1000, need) * env->size(), seed + 7919u * attempt, {}, false);
      int64_t long_enough = 0;
      for (const auto& e : store.episodes()) long_enough += e.length >= need;
      if (long_enough >= 1) break;
    }
    return {std::make_shared<dataloader::EpisodeStore>(scratch / "episodes", dataloader::EpisodeStore::Mode::kRead),
            config.env.id + " played now by " + agent->name()};
  }
  std::filesystem::path path;
  if (from == "episodes") {
    path = std::filesystem::is_directory(run / "episodes") ? run / "episodes" : std::filesystem::path(config.data.path);
    if (path.empty()) throw core::Error(run.string() + " has no episodes/ and its config names no data.path: give --from video:PATH or --from env");
  } else if (starts_with(from, "episodes:")) {
    path = from.substr(9);
  } else if (starts_with(from, "video:")) {
    path = from.substr(6);
  } else {
    throw core::Error("--from '" + from + "': expected episodes, episodes:PATH, video:PATH or env");
  }
  if (!std::filesystem::exists(path)) throw core::Error("--from: " + path.string() + " does not exist");
  return {dataloader::open_source(path, config.dataset.video), path.string()};
}

std::vector<std::string> action_names(const WmConfig& config, const dynamics::DynamicsOptions& world) {
  if (!envs::is_builtin_env(config.env.id) || config.env.continuous || !world.discrete_actions() || world.num_actions != 9) return {};
  // index = 3 * steer + throttle (envs/driving_env.h)
  std::vector<std::string> names;
  for (const char* steer : {"LEFT", "AHEAD", "RIGHT"}) {
    for (const char* throttle : {"BRAKE", "COAST", "GAS"}) names.push_back(std::string(steer) + " " + throttle);
  }
  return names;
}

void check_source_fits(const DreamSource& source, const DreamModels& models) {
  const auto& t = models.tokenizer->options();
  const auto& w = models.world->options();
  const auto shape = source.all->observation_shape();
  if (source.all->observation_dtype() != at::kByte || shape.size() != 3 || shape[2] != 3) {
    throw core::Error(source.description + " holds tokens or other arrays, not RGB frames: give the frames with --from video:PATH or --from episodes:PATH");
  }
  if (shape[0] != t.height || shape[1] != t.width) {
    throw core::Error(source.description + " has " + std::to_string(shape[0]) + "x" + std::to_string(shape[1]) + " frames, the tokenizer reads " +
                      std::to_string(t.height) + "x" + std::to_string(t.width) + " (set dataset.height / dataset.width for a video)");
  }
  // The recorded actions feed the dream's context whatever drives it.
  const bool source_discrete = source.all->action_dim() == 0;
  if (source_discrete != w.discrete_actions() || (!source_discrete && source.all->action_dim() != w.action_dim)) {
    throw core::Error(source.description + " records " + (source_discrete ? std::string("discrete actions") : std::to_string(source.all->action_dim()) + "-value actions") +
                      ", the world model takes " + (w.discrete_actions() ? std::to_string(w.num_actions) + " discrete actions" : std::to_string(w.action_dim) + "-value actions"));
  }
  if (source_discrete && source.all->discrete_action_count() > w.num_actions) {
    throw core::Error(source.description + " uses " + std::to_string(source.all->discrete_action_count()) + " actions, the world model knows " +
                      std::to_string(w.num_actions));
  }
}

}  // namespace wm::tools
