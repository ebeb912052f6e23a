#include "tools/play_session.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <unistd.h>

#include "core/device.h"
#include "core/error.h"
#include "core/file_io.h"
#include "dataloader/data_source.h"
#include "policy/policy_trainer.h"
#include "tools/checkpoint_paths.h"
#include "viz/video_writer.h"

namespace wm::tools {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

bool has_room(const dataloader::WindowSource& source, int64_t steps) {
  for (int64_t e = 0; e < source.num_episodes(); ++e) {
    if (source.episode_length(e) >= steps) return true;
  }
  return false;
}

}  // namespace

PlayWorld::PlayWorld(const PlayOptions& options, const std::filesystem::path& scratch) : options_(options) {
  const std::filesystem::path config_file = options.run / "config.yaml";
  if (!std::filesystem::is_regular_file(config_file)) throw core::Error(options.run.string() + " is not a run folder: it has no config.yaml");
  const WmConfig config = load_wm_config(config_file, options.overrides).config;
  if (!(options.temperature >= 0) || !std::isfinite(options.temperature)) throw core::Error("--temperature must be a number >= 0");
  if (!(options.fps > 0) || options.fps > 240) throw core::Error("--fps " + fmt::format("{}", options.fps) + " is outside (0, 240]");
  if (options.actions != "human" && options.actions != "policy") throw core::Error("--actions '" + options.actions + "': expected human or policy");
  device_ = core::resolve_device(options.device);
  torch::NoGradGuard no_grad;

  models_ = load_dream_models(options.run, config, "", "", device_);
  const auto& w = models_.world->options();
  dreamer_ = policy::dreaming_model(models_.world, config.policy_train.dream_precision, device_);
  context_ = options.context > 0 ? options.context : std::min<int64_t>(4, w.context_steps - 1);
  if (context_ < 1 || context_ >= w.context_steps) {
    throw core::Error("--context " + std::to_string(context_) + ": the world model sees " + std::to_string(w.context_steps) +
                      " steps (dynamics.context_steps), so 1.." + std::to_string(w.context_steps - 1) + " real frames prime it");
  }
  if (has_checkpoint(options.run, "policy")) {
    policy_ = load_dream_policy(resolve_checkpoint(options.run.string(), "policy").string(), w, device_);
  } else if (options.actions == "policy") {
    throw core::Error("--actions policy: " + options.run.string() + " has no policy checkpoint (wm train policy or wm train all makes one)");
  }
  source_ = open_dream_source(options.from, options.run, config, scratch, "", options.seed, context_);
  check_source_fits(source_, models_);
  pool_ = std::make_shared<dataloader::SplitSource>(source_.all, config.data, dataloader::SplitSource::Part::kHoldout);
  if (options.from == "env" || !has_room(*pool_, context_)) pool_ = source_.all;
  if (!has_room(*pool_, context_)) {
    throw core::Error(source_.description + ": no episode has the " + std::to_string(context_) + " frames a dream starts from");
  }
  action_names_ = tools::action_names(config, w);
  if (w.discrete_actions() && action_names_.empty()) {
    for (int64_t a = 0; a < w.num_actions; ++a) action_names_.push_back(std::to_string(a));
  }
  if (!w.discrete_actions()) {
    // The bounds the policy was trained in where there is one, else the usual [-1, 1].
    if (policy_ && !policy_->actor->options().action_low.empty()) {
      action_low_ = policy_->actor->options().action_low;
      action_high_ = policy_->actor->options().action_high;
    } else {
      action_low_.assign(static_cast<size_t>(w.action_dim), -1.0);
      action_high_.assign(static_cast<size_t>(w.action_dim), 1.0);
    }
  }
}

PlayWorld::Start PlayWorld::draw_start(std::mt19937_64& rng) const {
  std::vector<int64_t> eligible;
  for (int64_t e = 0; e < pool_->num_episodes(); ++e) {
    if (pool_->episode_length(e) >= context_) eligible.push_back(e);
  }
  const int64_t episode = eligible[std::uniform_int_distribution<size_t>(0, eligible.size() - 1)(rng)];
  const int64_t first = std::uniform_int_distribution<int64_t>(0, pool_->episode_length(episode) - context_)(rng);
  const auto shape = pool_->observation_shape();
  const auto& w = models_.world->options();
  dataloader::WindowBatch window;
  window.observations = torch::zeros({1, context_, shape[0], shape[1], 3}, torch::kUInt8);
  window.actions = w.discrete_actions() ? torch::zeros({1, context_}, torch::kLong) : torch::zeros({1, context_, w.action_dim});
  window.rewards = torch::zeros({1, context_});
  window.dones = torch::zeros({1, context_}, torch::kUInt8);
  window.mask = torch::zeros({1, context_}, torch::kBool);
  pool_->read_steps(episode, first, context_, window, 0, 0);
  return {window.observations, window.actions.narrow(1, 0, context_ - 1)};
}

at::Tensor PlayWorld::parse_action(const nlohmann::json& value) const {
  const auto& w = models_.world->options();
  if (w.discrete_actions()) {
    if (!value.is_number_integer()) throw core::Error("action " + value.dump() + ": expected an integer 0.." + std::to_string(w.num_actions - 1));
    const int64_t a = value.get<int64_t>();
    if (a < 0 || a >= w.num_actions) throw core::Error("action " + std::to_string(a) + " is outside 0.." + std::to_string(w.num_actions - 1));
    return torch::tensor(a, torch::kLong);
  }
  if (!value.is_array() || static_cast<int64_t>(value.size()) != w.action_dim) {
    throw core::Error("action " + value.dump() + ": expected a list of " + std::to_string(w.action_dim) + " numbers");
  }
  std::vector<float> a;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_number() || !std::isfinite(value[i].get<double>())) throw core::Error("action " + value.dump() + ": value " + std::to_string(i) + " is not a number");
    const double x = value[i].get<double>();
    if (x < action_low_[i] || x > action_high_[i]) {
      throw core::Error(fmt::format("action {}: value {} = {} is outside [{}, {}]", value.dump(), i, x, action_low_[i], action_high_[i]));
    }
    a.push_back(static_cast<float>(x));
  }
  return torch::tensor(a);
}

std::string PlayWorld::describe_action(const at::Tensor& action) const {
  if (action.dim() == 0) {
    const int64_t a = action.item<int64_t>();
    return a >= 0 && a < static_cast<int64_t>(action_names_.size()) ? action_names_[static_cast<size_t>(a)] : std::to_string(a);
  }
  std::string text = "[";
  for (int64_t i = 0; i < action.numel(); ++i) text += fmt::format("{}{:.2f}", i ? ", " : "", action[i].item<double>());
  return text + "]";
}

PlaySession::PlaySession(PlayWorld& world, uint64_t seed)
    : world_(world),
      rng_(seed),
      seed_(seed),
      temperature_(world.options().temperature),
      encoder_(viz::ImageFormat::kPng, static_cast<int>(world.models().tokenizer->options().height),
               static_cast<int>(world.models().tokenizer->options().width)) {}

void PlaySession::watch(const at::Tensor& tokens) {
  if (!world_.has_policy()) return;
  DreamPolicy& p = world_.policy();
  const policy::PolicyStep out = p.actor->forward(p.inputs->from_tokens(tokens), policy_state_);
  policy_state_ = out.state;
  policy_proposal_ = policy::sample_actions(out, p.actor->options()).actions[0];
}

PlayFrame PlaySession::show(const at::Tensor& tokens, int64_t step) {
  const auto& t = world_.models().tokenizer->options();
  PlayFrame frame;
  frame.step = step;
  auto started = Clock::now();
  tokenizer::VQModel tokenizer = world_.models().tokenizer;  // a handle: the models are shared, not const
  const at::Tensor pixels = tokenizer->decode(tokens.reshape({1, t.grid_height(), t.grid_width()})).to(torch::kCPU).contiguous();  // uint8 [1, H, W, 3]
  frame.decode_s = seconds_since(started);
  started = Clock::now();
  frame.png = encoder_.encode(pixels.data_ptr<uint8_t>());
  frame.encode_s = seconds_since(started);
  if (recording_) {
    const auto most = static_cast<size_t>(600 * world_.options().fps);
    if (recorded_frames_.size() < most) recorded_frames_.push_back(pixels[0].clone());
    else recording_ = false;  // full: what is recorded stays, nothing more is kept
  }
  frame.recording = recording_;
  if (policy_proposal_.defined()) frame.policy_action = world_.describe_action(policy_proposal_);
  return frame;
}

PlayFrame PlaySession::restart() {
  torch::NoGradGuard no_grad;
  const auto& t = world_.models().tokenizer->options();
  const int64_t C = world_.context(), K = t.tokens_per_frame();
  const PlayWorld::Start start = world_.draw_start(rng_);
  tokenizer::VQModel tokenizer = world_.models().tokenizer;
  const at::Tensor tokens = tokenizer->encode(start.frames.reshape({C, t.height, t.width, 3}).to(world_.device())).reshape({1, C, K});
  dream_.emplace(world_.dreamer(), 1, dynamics::SamplingOptions{.temperature = temperature_, .seed = rng_()});
  dream_->reset(tokens, start.actions.to(world_.device()));
  start_png_ = encoder_.encode(start.frames[0][C - 1].contiguous().data_ptr<uint8_t>());
  if (world_.has_policy()) {
    policy_state_ = world_.policy().actor->initial_state(1);
    for (int64_t c = 0; c < C; ++c) watch(tokens.select(1, c));
  }
  step_ = 0;
  if (recording_) recorded_rows_.push_back("0,\"restart\",,");
  return show(tokens.select(1, C - 1), 0);
}

PlayFrame PlaySession::step(const at::Tensor& action) {
  torch::NoGradGuard no_grad;
  if (!dream_) restart();
  at::Tensor chosen = action;
  if (!chosen.defined()) {
    if (!policy_proposal_.defined()) throw core::Error("this run has no policy to act");
    chosen = policy_proposal_;
  }
  const auto started = Clock::now();
  const dynamics::ImaginedStep imagined = dream_->step(chosen.unsqueeze(0).to(world_.device()));
  const double imagine_s = seconds_since(started);
  watch(imagined.tokens);
  PlayFrame frame = show(imagined.tokens, ++step_);
  frame.imagine_s = imagine_s;
  frame.reward = imagined.rewards[0].item<double>();
  frame.done_probability = imagined.done_probs[0].item<double>();
  frame.action = world_.describe_action(chosen);
  if (recording_) recorded_rows_.push_back(fmt::format("{},\"{}\",{:.4f},{:.4f}", step_, frame.action, frame.reward, frame.done_probability));
  return frame;
}

void PlaySession::set_temperature(double temperature) {
  if (!(temperature >= 0) || !std::isfinite(temperature) || temperature > 10) {
    throw core::Error(fmt::format("temperature {} is outside 0..10", temperature));
  }
  temperature_ = temperature;
  if (dream_) dream_->set_temperature(temperature);
}

void PlaySession::start_recording() {
  recording_ = true;
  recorded_frames_.clear();
  recorded_rows_.clear();
}

std::string PlaySession::recording_mp4(const std::filesystem::path& scratch, double fps) const {
  if (recorded_frames_.empty()) throw core::Error("nothing recorded yet: press record, then play");
  const auto& t = world_.models().tokenizer->options();
  struct RemovedAfter {
    std::filesystem::path path;
    ~RemovedAfter() {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  } file{scratch / fmt::format("recording_{}_{}.mp4", ::getpid(), reinterpret_cast<uintptr_t>(this))};
  viz::VideoWriter writer(file.path, static_cast<int>(t.height), static_cast<int>(t.width), viz::VideoWriterOptions{.fps = fps});
  for (const at::Tensor& frame : recorded_frames_) writer.write(frame.data_ptr<uint8_t>());
  writer.close();
  return core::read_file(file.path);
}

std::string PlaySession::recording_csv() const {
  std::string csv = "step,action,reward,done_probability\n";
  for (const std::string& row : recorded_rows_) csv += row + "\n";
  return csv;
}

}  // namespace wm::tools
