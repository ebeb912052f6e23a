#include "tools/dream_rollout.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "dataloader/data_source.h"
#include "dataloader/episode_store.h"
#include "dynamics/dynamics_checkpoint.h"
#include "dynamics/imagination.h"
#include "envs/env_options.h"
#include "policy/imagined_rollout.h"
#include "policy/policy_checkpoint.h"
#include "policy/policy_inputs.h"
#include "policy/policy_trainer.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/agents.h"
#include "tools/checkpoint_paths.h"
#include "tools/collect_episodes.h"
#include "tools/dream_models.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// The actions of --actions file:CSV: one row per step, one value per action dimension, an
// optional header; checked against the world model's action space.
at::Tensor read_action_file(const std::filesystem::path& csv, const dynamics::DynamicsOptions& world, int64_t horizon) {
  std::ifstream in(csv);
  if (!in) throw core::Error("--actions file:" + csv.string() + ": cannot open the file");
  std::vector<std::vector<double>> rows;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::vector<double> values;
    std::stringstream fields(line);
    bool header = false;
    for (std::string field; std::getline(fields, field, ',');) {
      try {
        size_t used = 0;
        values.push_back(std::stod(field, &used));
        if (field.find_first_not_of(" \t", used) != std::string::npos) throw std::invalid_argument(field);
      } catch (const std::exception&) {
        if (number == 1 && rows.empty()) {
          header = true;
          break;
        }
        throw core::Error(csv.string() + ":" + std::to_string(number) + ": '" + field + "' is not a number");
      }
    }
    if (header) continue;
    const size_t want = world.discrete_actions() ? 1 : static_cast<size_t>(world.action_dim);
    if (values.size() != want) {
      throw core::Error(csv.string() + ":" + std::to_string(number) + ": " + std::to_string(values.size()) + " values, the world model's actions have " +
                        std::to_string(want));
    }
    for (double v : values) {
      if (!std::isfinite(v)) throw core::Error(csv.string() + ":" + std::to_string(number) + ": a value is not finite");
      if (world.discrete_actions() && (v != std::floor(v) || v < 0 || v >= static_cast<double>(world.num_actions))) {
        throw core::Error(csv.string() + ":" + std::to_string(number) + ": action " + std::to_string(v) + " is outside the action space 0.." +
                          std::to_string(world.num_actions - 1));
      }
    }
    rows.push_back(values);
  }
  if (static_cast<int64_t>(rows.size()) < horizon) {
    throw core::Error(csv.string() + " has " + std::to_string(rows.size()) + " actions, the horizon needs " + std::to_string(horizon));
  }
  if (world.discrete_actions()) {
    at::Tensor out = torch::empty({horizon}, torch::kLong);
    for (int64_t h = 0; h < horizon; ++h) out[h] = static_cast<int64_t>(rows[h][0]);
    return out;
  }
  at::Tensor out = torch::empty({horizon, world.action_dim});
  for (int64_t h = 0; h < horizon; ++h) {
    for (int64_t a = 0; a < world.action_dim; ++a) out[h][a] = rows[h][a];
  }
  return out;
}

// --actions constant:A -> [] (discrete) or [A] (continuous).
at::Tensor parse_constant_action(const std::string& text, const dynamics::DynamicsOptions& world) {
  std::vector<double> values;
  std::stringstream fields(text);
  for (std::string field; std::getline(fields, field, ',');) {
    try {
      size_t used = 0;
      values.push_back(std::stod(field, &used));
      if (used != field.size()) throw std::invalid_argument(field);
    } catch (const std::exception&) {
      throw core::Error("--actions constant:" + text + ": '" + field + "' is not a number");
    }
  }
  if (world.discrete_actions()) {
    if (values.size() != 1 || values[0] != std::floor(values[0]) || values[0] < 0 || values[0] >= static_cast<double>(world.num_actions)) {
      throw core::Error("--actions constant:" + text + ": the world model's actions are one index in 0.." + std::to_string(world.num_actions - 1));
    }
    return torch::tensor(static_cast<int64_t>(values[0]));
  }
  if (static_cast<int64_t>(values.size()) != world.action_dim) {
    throw core::Error("--actions constant:" + text + ": the world model's actions have " + std::to_string(world.action_dim) + " values (a,b,...)");
  }
  for (double v : values) {
    if (!std::isfinite(v)) throw core::Error("--actions constant:" + text + ": a value is not finite");
  }
  return torch::tensor(std::vector<float>(values.begin(), values.end()));
}

double psnr(const at::Tensor& a, const at::Tensor& b) {  // uint8 frames, any shape
  const double mse = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).pow(2).mean().item<double>() / (255.0 * 255.0);
  return mse <= 1e-10 ? 100.0 : -10.0 * std::log10(mse);  // identical frames: 100 dB, not infinity
}

}  // namespace

DreamResult dream_from_run(const DreamOptions& options, const std::filesystem::path& scratch) {
  const std::filesystem::path config_file = options.run / "config.yaml";
  if (!std::filesystem::is_regular_file(config_file)) throw core::Error(options.run.string() + " is not a run folder: it has no config.yaml");
  const WmConfig config = load_wm_config(config_file, options.overrides).config;
  const int64_t C = options.context, H = options.horizon, S = options.samples, N = options.starts;
  if (C < 1) throw core::Error("--context " + std::to_string(C) + ": at least one real frame primes the dream");
  if (H < 0 || H > 10000) throw core::Error("--horizon " + std::to_string(H) + " is outside 0..10000");
  if (S < 1 || S > 64) throw core::Error("--samples " + std::to_string(S) + " is outside 1..64");
  if (N < 1 || N > 4096) throw core::Error("--starts " + std::to_string(N) + " is outside 1..4096");
  if (!(options.temperature > 0) || !std::isfinite(options.temperature)) throw core::Error("--temperature must be a positive number");
  const c10::Device cpu(c10::kCPU);
  torch::NoGradGuard no_grad;

  // The models: the ones named, else the run's newest (its tokenizer, or the one its
  // dynamics training read through).
  DreamDescription d;
  d.run = options.run.string();
  const DreamModels models = load_dream_models(options.run, config, options.tokenizer, options.dynamics, cpu);
  tokenizer::VQModel tokenizer = models.tokenizer;
  const dynamics::WorldModel world = models.world;
  const std::filesystem::path& dynamics_path = models.dynamics_path;
  const auto& t = tokenizer->options();
  const auto& w = world->options();
  d.tokenizer = models.tokenizer_path.string();
  d.dynamics = dynamics_path.string();
  if (C >= w.context_steps) {
    throw core::Error("--context " + std::to_string(C) + ": the world model sees " + std::to_string(w.context_steps) +
                      " steps (dynamics.context_steps), so at most " + std::to_string(w.context_steps - 1) + " real frames prime it");
  }

  const bool recorded = options.actions == "recorded", use_policy = options.actions == "policy";
  at::Tensor fixed_actions;  // constant: [] / [A]; file: [H] / [H, A]
  if (starts_with(options.actions, "constant:")) {
    fixed_actions = parse_constant_action(options.actions.substr(9), w);
  } else if (starts_with(options.actions, "file:")) {
    fixed_actions = read_action_file(options.actions.substr(5), w, H);
  } else if (!recorded && !use_policy) {
    throw core::Error("--actions '" + options.actions + "': expected recorded, policy, file:CSV or constant:A");
  }
  std::string policy_path;
  if (use_policy || !options.policy.empty()) {
    policy_path = resolve_checkpoint(options.policy.empty() ? options.run.string() : options.policy, "policy").string();
  } else if (options.from == "env" && has_checkpoint(options.run, "policy")) {
    policy_path = resolve_checkpoint(options.run.string(), "policy").string();  // the run's policy plays the episodes
  }
  d.policy = use_policy ? policy_path : "";
  d.actions = options.actions;
  d.comparable = recorded;
  d.env = config.env.id;
  d.action_names = action_names(config, w);

  // The source and its start windows: held-out episodes where they are long enough (the model
  // never trained on them), else anywhere.
  const DreamSource source = open_dream_source(options.from, options.run, config, scratch, options.from == "env" ? policy_path : "", options.seed,
                                               options.context + options.horizon);
  check_source_fits(source, models);
  const auto shape = source.all->observation_shape();
  const int64_t T = C + H, need = recorded ? T : C;
  std::shared_ptr<dataloader::WindowSource> pool = std::make_shared<dataloader::SplitSource>(source.all, config.data, dataloader::SplitSource::Part::kHoldout);
  d.split = "held-out episodes (never trained on)";
  auto has_room_for = [](const dataloader::WindowSource& s, int64_t steps) {
    for (int64_t e = 0; e < s.num_episodes(); ++e) {
      if (s.episode_length(e) >= steps) return true;
    }
    return false;
  };
  auto has_room = [&](const dataloader::WindowSource& s) { return has_room_for(s, need); };
  if (options.from == "env" || !has_room(*pool)) {
    pool = source.all;
    d.split = options.from == "env" ? "played now" : "the whole source (its held-out part is shorter than " + std::to_string(need) + " steps)";
  }
  if (!has_room(*pool)) {
    int64_t longest = 0;
    for (int64_t e = 0; e < pool->num_episodes(); ++e) longest = std::max(longest, pool->episode_length(e));
    throw core::Error(source.description + ": its longest episode has " + std::to_string(longest) + " steps, " + std::to_string(need) +
                      " needed (--context " + std::to_string(C) + (recorded ? " + --horizon " + std::to_string(H) + " with recorded actions" : "") + ")");
  }
  d.source = source.description;

  dataloader::WindowBatch window;
  window.observations = torch::zeros({N, T, shape[0], shape[1], 3}, torch::kUInt8);
  window.actions = w.discrete_actions() ? torch::zeros({N, T}, torch::kLong) : torch::zeros({N, T, w.action_dim});
  window.rewards = torch::zeros({N, T});
  window.dones = torch::zeros({N, T}, torch::kUInt8);
  window.mask = torch::zeros({N, T}, torch::kBool);
  {
    std::mt19937_64 rng(options.seed);
    // Windows with the whole real continuation where the source has them (so every start is
    // compared at every step), else the context alone.
    const int64_t drawn = has_room_for(*pool, T) ? T : need;
    std::vector<int64_t> eligible;
    for (int64_t e = 0; e < pool->num_episodes(); ++e) {
      if (pool->episode_length(e) >= drawn) eligible.push_back(e);
    }
    for (int64_t n = 0; n < N; ++n) {
      const int64_t episode = eligible[std::uniform_int_distribution<size_t>(0, eligible.size() - 1)(rng)];
      const int64_t length = pool->episode_length(episode);
      const int64_t first = std::uniform_int_distribution<int64_t>(0, length - drawn)(rng);
      const int64_t count = std::min(T, length - first);
      pool->read_steps(episode, first, count, window, n, 0);
      window.mask[n].narrow(0, 0, count).fill_(true);
    }
  }

  DreamResult result;
  DreamSet& set = result.set;
  set.context = C;
  set.discrete_actions = w.discrete_actions();
  set.real_frames = window.observations;
  set.real_valid = window.mask;
  set.real_actions = window.actions;
  set.real_rewards = window.rewards.to(torch::kFloat);
  set.real_dones = window.dones.to(torch::kBool);
  const int64_t K = t.tokens_per_frame();
  auto decode = [&](const at::Tensor& tokens) {  // int64 [M, K] -> uint8 [M, H, W, 3]
    // In chunks: the decoder's activations for thousands of frames at once outgrow the caches.
    constexpr int64_t kChunk = 64;
    std::vector<at::Tensor> parts;
    for (int64_t first = 0; first < tokens.size(0); first += kChunk) {
      const at::Tensor chunk = tokens.narrow(0, first, std::min(kChunk, tokens.size(0) - first));
      parts.push_back(tokenizer->decode(chunk.reshape({chunk.size(0), t.grid_height(), t.grid_width()})).to(torch::kCPU));
    }
    return torch::cat(parts, 0);
  };
  Clock::time_point started = Clock::now();
  set.real_tokens = tokenizer->encode(set.real_frames.reshape({N * T, shape[0], shape[1], 3})).reshape({N, T, K});
  set.recon_frames = decode(set.real_tokens.reshape({N * T, K})).reshape(set.real_frames.sizes());
  result.seconds_decode += seconds_since(started);

  // The dreams: S samples of every start, each from its own stream of draws.
  const dynamics::WorldModel dreamer = policy::dreaming_model(world, config.policy_train.dream_precision, cpu);
  const at::Tensor context_tokens = set.real_tokens.narrow(1, 0, C);
  const at::Tensor context_actions = set.real_actions.narrow(1, 0, C - 1);
  std::vector<at::Tensor> tokens_s, rewards_s, dones_s, actions_s;
  policy::ActorCritic actor{nullptr};
  std::optional<policy::PolicyInputs> inputs;
  if (use_policy) {
    DreamPolicy loaded = load_dream_policy(policy_path, w, cpu);
    actor = loaded.actor;
    inputs = std::move(loaded.inputs);
  }
  started = Clock::now();
  for (int64_t s = 0; s < S; ++s) {
    dynamics::Imagination dream(dreamer, N, dynamics::SamplingOptions{.temperature = options.temperature, .seed = options.seed * 1000 + s + 1});
    std::vector<at::Tensor> tokens, rewards, dones, actions;
    if (use_policy && H > 0) {
      torch::manual_seed(options.seed * 1000 + s + 1);
      const policy::ImaginedRollout r =
          policy::imagine_rollout(actor, *inputs, dream, context_tokens, context_actions, torch::ones({N, C}, torch::kBool), H);
      tokens_s.push_back(r.tokens.narrow(1, 1, H).to(torch::kCPU));
      rewards_s.push_back(r.rewards.to(torch::kCPU, torch::kFloat));
      dones_s.push_back((1.0 - r.continues).to(torch::kCPU, torch::kFloat));
      actions_s.push_back(r.actions.to(torch::kCPU));
      continue;
    }
    dream.reset(context_tokens, context_actions);
    for (int64_t h = 0; h < H; ++h) {
      at::Tensor a;
      if (recorded) a = set.real_actions.select(1, C - 1 + h);
      else if (fixed_actions.dim() == (w.discrete_actions() ? 0 : 1)) a = fixed_actions.unsqueeze(0).expand(w.discrete_actions() ? std::vector<int64_t>{N} : std::vector<int64_t>{N, w.action_dim}).contiguous();
      else a = fixed_actions.select(0, h).unsqueeze(0).expand(w.discrete_actions() ? std::vector<int64_t>{N} : std::vector<int64_t>{N, w.action_dim}).contiguous();
      const dynamics::ImaginedStep step = dream.step(a);
      tokens.push_back(step.tokens.to(torch::kCPU));
      rewards.push_back(step.rewards.to(torch::kCPU, torch::kFloat));
      dones.push_back(step.done_probs.to(torch::kCPU, torch::kFloat));
      actions.push_back(a);
    }
    const std::vector<int64_t> action_shape = w.discrete_actions() ? std::vector<int64_t>{N, 0} : std::vector<int64_t>{N, 0, w.action_dim};
    tokens_s.push_back(H ? torch::stack(tokens, 1) : torch::zeros({N, 0, K}, torch::kLong));
    rewards_s.push_back(H ? torch::stack(rewards, 1) : torch::zeros({N, 0}));
    dones_s.push_back(H ? torch::stack(dones, 1) : torch::zeros({N, 0}));
    actions_s.push_back(H ? torch::stack(actions, 1) : torch::zeros(action_shape, w.discrete_actions() ? torch::kLong : torch::kFloat));
  }
  set.dream_tokens = torch::stack(tokens_s, 0);       // [S, N, H, K]
  set.dream_rewards = torch::stack(rewards_s, 0);     // [S, N, H]
  set.dream_done_probs = torch::stack(dones_s, 0);
  set.dream_actions = torch::stack(actions_s, 0);
  result.seconds_imagine = seconds_since(started);
  started = Clock::now();
  set.dream_frames = H ? decode(set.dream_tokens.reshape({S * N * H, K})).reshape({S, N, H, shape[0], shape[1], 3})
                       : torch::zeros({S, N, 0, shape[0], shape[1], 3}, torch::kUInt8);
  result.seconds_decode += seconds_since(started);
  result.errors = dream_errors(set);
  result.description = d;
  return result;
}

std::vector<DreamStepError> dream_errors(const DreamSet& set) {
  const int64_t S = set.dream_tokens.size(0), N = set.real_frames.size(0), H = set.dream_tokens.size(2), C = set.context;
  const double nan = std::nan("");
  std::vector<DreamStepError> errors;
  for (int64_t k = 0; k <= H; ++k) {
    DreamStepError e;
    e.step = k;
    const int64_t real_index = C - 1 + k;  // the real frame k steps after the last context frame
    double psnr_dream = 0, psnr_recon = 0, accuracy = 0, reward_error = 0, agreement = 0, predicted = 0, real = 0, done_p = 0;
    int64_t compared = 0;
    for (int64_t n = 0; n < N; ++n) {
      if (!set.real_valid[n][real_index].item<bool>()) continue;
      const at::Tensor frame = set.real_frames[n][real_index];
      const double ceiling = psnr(set.recon_frames[n][real_index], frame);
      for (int64_t s = 0; s < S; ++s) {
        ++compared;
        psnr_recon += ceiling;
        if (k == 0) {  // the dream starts from the reconstruction of the last real frame
          psnr_dream += ceiling;
          accuracy += 1.0;
          continue;
        }
        psnr_dream += psnr(set.dream_frames[s][n][k - 1], frame);
        accuracy += (set.dream_tokens[s][n][k - 1] == set.real_tokens[n][real_index]).to(torch::kFloat64).mean().item<double>();
        const double p = set.dream_rewards[s][n][k - 1].item<double>(), r = set.real_rewards[n][real_index - 1].item<double>();
        const double done = set.dream_done_probs[s][n][k - 1].item<double>();
        reward_error += std::abs(p - r);
        predicted += p;
        real += r;
        done_p += done;
        agreement += (done > 0.5) == set.real_dones[n][real_index - 1].item<bool>();
      }
    }
    const double m = static_cast<double>(compared);
    e.compared = compared;
    e.psnr_dream = compared ? psnr_dream / m : nan;
    e.psnr_reconstruction = compared ? psnr_recon / m : nan;
    e.token_accuracy = compared ? accuracy / m : nan;
    const bool outcome = compared && k > 0;
    e.reward_abs_error = outcome ? reward_error / m : nan;
    e.done_agreement = outcome ? agreement / m : nan;
    e.predicted_reward = outcome ? predicted / m : nan;
    e.real_reward = outcome ? real / m : nan;
    e.done_probability = outcome ? done_p / m : nan;
    errors.push_back(e);
  }
  return errors;
}

}  // namespace wm::tools
