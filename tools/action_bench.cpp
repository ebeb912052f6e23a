#include "tools/action_bench.h"

#include <torch/torch.h>

#include <cstring>
#include <random>

#include "core/build_info.h"
#include "core/error.h"
#include "dynamics/dynamics_checkpoint.h"
#include "dynamics/imagination.h"
#include "envs/driving_env.h"
#include "envs/driving_expert.h"
#include "envs/driving_renderer.h"
#include "policy/policy_trainer.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/checkpoint_paths.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

constexpr int64_t kActions = 9;  // the driving game's: steer (left, straight, right) x throttle (brake, coast, accelerate)

// A state of the real game to branch from, and the frames and actions that led to it.
struct Start {
  envs::DrivingEnv env;
  std::vector<std::vector<uint8_t>> frames;  // the last `context` frames, oldest first
  std::vector<int64_t> actions;              // the context - 1 actions between them
};

// Starts spread over the game: the scripted expert with 30% random actions, as the demo
// collects its first data, for 10..300 steps from a fresh seed each (an episode that ends
// before is skipped).
std::vector<Start> make_starts(const envs::DrivingOptions& game, int64_t count, int64_t context, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Start> starts;
  const size_t bytes = static_cast<size_t>(game.height) * static_cast<size_t>(game.width) * 3;
  for (uint64_t episode = 0; static_cast<int64_t>(starts.size()) < count; ++episode) {
    if (episode > static_cast<uint64_t>(count) * 20) throw core::Error("bench actions: episodes keep ending before a start is reached");
    Start start{envs::DrivingEnv(game), {}, {}};
    envs::DrivingExpert expert;
    std::vector<uint8_t> frame(bytes);
    start.env.reset(seed * 1000003u + episode, frame.data());
    start.frames.push_back(frame);
    const int64_t steps = std::uniform_int_distribution<int64_t>(std::max<int64_t>(10, context), 300)(rng);
    bool ended = false;
    for (int64_t t = 0; t < steps && !ended; ++t) {
      int64_t action = expert.act(start.env).index;
      if (std::uniform_real_distribution<double>(0, 1)(rng) < 0.3) action = std::uniform_int_distribution<int64_t>(0, kActions - 1)(rng);
      ended = start.env.step(envs::Action::discrete(action), frame.data()).done();
      start.frames.push_back(frame);
      start.actions.push_back(action);
      if (static_cast<int64_t>(start.frames.size()) > context) start.frames.erase(start.frames.begin());
      if (static_cast<int64_t>(start.actions.size()) > context - 1) start.actions.erase(start.actions.begin());
    }
    if (!ended) starts.push_back(std::move(start));
  }
  return starts;
}

double pearson(const at::Tensor& x, const at::Tensor& y) {
  const at::Tensor dx = x - x.mean(), dy = y - y.mean();
  return ((dx * dy).sum() / ((dx * dx).sum() * (dy * dy).sum()).sqrt().clamp_min(1e-12)).item<double>();
}

}  // namespace

std::vector<bench::BenchRecord> run_action_bench(const ActionBenchOptions& options) {
  const std::filesystem::path config_file = options.run / "config.yaml";
  if (!std::filesystem::is_regular_file(config_file)) throw core::Error(options.run.string() + " is not a run folder: it has no config.yaml");
  if (options.starts < 2 || options.horizon < 1 || options.context < 1) {
    throw core::Error("bench actions: --starts must be at least 2, --horizon and --context at least 1");
  }
  const WmConfig config = load_wm_config(config_file, {}).config;
  if (config.env.id != "driving" || config.env.continuous || config.env.action_repeat != 1) {
    throw core::Error(config_file.string() + ": env.id = '" + config.env.id +
                      "'; bench actions branches the built-in driving game with 9 discrete actions and action_repeat 1");
  }
  torch::NoGradGuard no_grad;
  const c10::Device cpu(c10::kCPU);
  const std::filesystem::path tokenizer_path = resolve_checkpoint(options.tokenizer.empty() ? options.run.string() : options.tokenizer, "tokenizer");
  const std::filesystem::path dynamics_path = resolve_checkpoint(options.dynamics.empty() ? options.run.string() : options.dynamics, "dynamics");
  tokenizer::VQModel tokenizer = tokenizer::load_tokenizer(tokenizer_path, cpu).model;
  tokenizer->eval();
  const dynamics::WorldModel world = dynamics::load_dynamics(dynamics_path, cpu).model;
  if (!world->options().discrete_actions() || world->options().num_actions != kActions) {
    throw core::Error(dynamics_path.string() + " was trained on another action space than the driving game's 9 actions");
  }
  const auto& t = tokenizer->options();
  const int64_t N = options.starts, C = options.context, H = options.horizon, K = t.tokens_per_frame();
  const int height = static_cast<int>(t.height), width = static_cast<int>(t.width);  // the frames the tokenizer reads
  envs::DrivingOptions game;
  game.height = height;
  game.width = width;
  game.supersample = static_cast<int>(config.env.supersample);
  game.max_steps = config.env.max_steps;
  game.max_offroad_steps = config.env.max_offroad_steps;

  const std::vector<Start> starts = make_starts(game, N, C, options.seed);
  at::Tensor context_frames = torch::empty({N, C, height, width, 3}, torch::kUInt8);
  at::Tensor context_actions = torch::empty({N, C - 1}, torch::kLong);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      context_frames[n][c].copy_(torch::from_blob(const_cast<uint8_t*>(starts[n].frames[c].data()), {height, width, 3}, torch::kUInt8));
    }
    for (int64_t c = 0; c + 1 < C; ++c) context_actions[n][c] = starts[n].actions[c];
  }
  auto encode = [&](const at::Tensor& frames) {  // uint8 [M, H, W, 3] -> int64 [M, K]
    return tokenizer->encode(frames).reshape({frames.size(0), K});
  };
  auto speeds_shown = [&](const at::Tensor& frames) {  // uint8 [M, H, W, 3] -> float [M]
    const at::Tensor contiguous = frames.contiguous();
    std::vector<float> speeds(static_cast<size_t>(frames.size(0)));
    for (int64_t m = 0; m < frames.size(0); ++m) {
      speeds[m] = static_cast<float>(envs::read_speed_bar(contiguous[m].data_ptr<uint8_t>(), height, width));
    }
    return torch::tensor(speeds);
  };
  const at::Tensor context_tokens = encode(context_frames.reshape({N * C, height, width, 3})).reshape({N, C, K});
  const dynamics::WorldModel dreamer = policy::dreaming_model(world, config.policy_train.dream_precision, cpu);

  // [N, 9] each: the undiscounted sum of rewards over the horizon (the dream's weighted by
  // its chance of still running), and the speed the last frame shows.
  at::Tensor real_return = torch::zeros({N, kActions}), dream_return = torch::zeros({N, kActions});
  at::Tensor real_speed = torch::zeros({N, kActions}), recon_speed = torch::zeros({N, kActions}), dream_speed = torch::zeros({N, kActions});
  double first_frame_agreement = 0;
  const size_t bytes = static_cast<size_t>(height) * static_cast<size_t>(width) * 3;
  for (int64_t a = 0; a < kActions; ++a) {
    at::Tensor first_real = torch::empty({N, height, width, 3}, torch::kUInt8), last_real = torch::empty({N, height, width, 3}, torch::kUInt8);
    for (int64_t n = 0; n < N; ++n) {
      envs::DrivingEnv branch = starts[n].env;
      std::vector<uint8_t> frame = starts[n].frames.back();
      double sum = 0;
      for (int64_t h = 0; h < H; ++h) {
        const envs::StepResult r = branch.step(envs::Action::discrete(a), frame.data());
        sum += r.reward;
        if (h == 0) std::memcpy(first_real[n].data_ptr<uint8_t>(), frame.data(), bytes);
        if (r.done()) break;  // the last frame stays the one the episode ended on
      }
      std::memcpy(last_real[n].data_ptr<uint8_t>(), frame.data(), bytes);
      real_return[n][a] = sum;
      real_speed[n][a] = branch.speed() / branch.physics().max_speed;
    }
    const bool straight = a / 3 == 1;  // the speeds reported: the throttle straight ahead
    if (straight) {
      recon_speed.select(1, a).copy_(speeds_shown(tokenizer->decode(encode(last_real).reshape({N, t.grid_height(), t.grid_width()}))));
    }

    dynamics::Imagination dream(dreamer, N, dynamics::SamplingOptions{.temperature = config.policy_train.temperature, .seed = options.seed + 1});
    dream.reset(context_tokens, context_actions);
    at::Tensor alive = torch::ones({N}), sum = torch::zeros({N});
    at::Tensor last_tokens;
    for (int64_t h = 0; h < H; ++h) {
      const dynamics::ImaginedStep step = dream.step(torch::full({N}, a, torch::kLong));
      sum += alive * step.rewards.to(torch::kFloat);
      alive = alive * (1 - step.done_probs.to(torch::kFloat));
      if (h == 0) first_frame_agreement += (step.tokens == encode(first_real)).to(torch::kFloat).mean().item<double>() / kActions;
      last_tokens = step.tokens;
    }
    dream_return.select(1, a).copy_(sum);
    if (straight) dream_speed.select(1, a).copy_(speeds_shown(tokenizer->decode(last_tokens.reshape({N, t.grid_height(), t.grid_width()}))));
  }

  // How the dream ranks the actions of one state against reality: returns less their state's
  // mean, correlated over all (state, action) pairs; and the same state's best action.
  const at::Tensor real_effect = real_return - real_return.mean(1, true), dream_effect = dream_return - dream_return.mean(1, true);
  const double best_agreement = (real_return.argmax(1) == dream_return.argmax(1)).to(torch::kFloat).mean().item<double>();

  const nlohmann::ordered_json context = {{"device", "cpu"},
                                          {"run", options.run.string()},
                                          {"tokenizer", tokenizer_path.filename().string()},
                                          {"dynamics", dynamics_path.filename().string()},
                                          {"starts", N},
                                          {"horizon", H},
                                          {"context", C},
                                          {"cpu", core::build_info().cpu_capability}};
  std::vector<bench::BenchRecord> records;
  static const char* kNames[kActions] = {"left_brake", "left_coast", "left_accelerate", "straight_brake", "straight_coast",
                                         "straight_accelerate", "right_brake", "right_coast", "right_accelerate"};
  for (int64_t a = 0; a < kActions; ++a) {
    records.push_back({.bench = "actions", .metric = std::string("return_") + kNames[a], .value = dream_return.select(1, a).mean().item<double>(),
                       .baseline = "real", .baseline_value = real_return.select(1, a).mean().item<double>(), .context = context});
  }
  for (int64_t a : {3, 4, 5}) {  // the throttle, straight ahead: what the speed bar shows at the end
    auto record_context = context;
    record_context["tokenizer_reconstruction"] = recon_speed.select(1, a).mean().item<double>();
    records.push_back({.bench = "actions", .metric = std::string("end_speed_") + kNames[a], .value = dream_speed.select(1, a).mean().item<double>(),
                       .baseline = "real", .baseline_value = real_speed.select(1, a).mean().item<double>(), .context = record_context});
  }
  records.push_back({.bench = "actions", .metric = "action_effect_correlation", .value = pearson(dream_effect, real_effect), .context = context});
  auto chance = context;
  chance["chance"] = 1.0 / kActions;
  records.push_back({.bench = "actions", .metric = "best_action_agreement", .value = best_agreement, .context = chance});
  records.push_back({.bench = "actions", .metric = "first_frame_token_agreement", .value = first_frame_agreement, .context = context});
  return records;
}

}  // namespace wm::tools
