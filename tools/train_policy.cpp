#include "tools/train_policy.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <numeric>

#include "core/config.h"
#include "core/error.h"
#include "core/seed_mix.h"
#include "core/train_loop.h"
#include "dataloader/window_sampler.h"
#include "dynamics/dynamics_checkpoint.h"
#include "envs/agent.h"
#include "policy/policy_agent.h"
#include "policy/policy_trainer.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/checkpoint_paths.h"
#include "tools/dynamics_data.h"
#include "tools/training_run.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

// The action space the policy acts in: the world model's, with the environment's bounds for
// continuous actions.
void fit_actions(policy::PolicyOptions& o, const dynamics::DynamicsOptions& world, const envs::VectorEnv* env) {
  if (world.discrete_actions()) {
    o.num_actions = world.num_actions;
  } else {
    if (env == nullptr || env->action_space().is_discrete() || env->action_space().dim != world.action_dim) {
      throw core::Error("the world model has " + std::to_string(world.action_dim) + "-d continuous actions; the policy takes their bounds "
                        "from the environment, and env.id = '" + (env ? env->name() + "' acts in " + env->action_space().describe() : "?'"));
    }
    o.action_low.assign(env->action_space().low.begin(), env->action_space().low.end());
    o.action_high.assign(env->action_space().high.begin(), env->action_space().high.end());
  }
}

}  // namespace

void train_policy(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start) {
  const LoadedConfig loaded = load_wm_config(config_file, overrides);
  WmConfig config = loaded.config;
  core::RunContext run = open_training_run(config, loaded.yaml);
  const c10::Device device = training_device(config);
  const auto& options = config.policy_train;
  options.validate();

  // The frozen parts: the tokenizer the policy reads through, and the world model it dreams in.
  const std::string root = run.dir().root().string();
  // Rank 0 picks the files (resolving may set a damaged newest checkpoint aside); every rank
  // loads the same ones.
  const std::filesystem::path tokenizer_path =
      run.from_rank0([&] { return resolve_checkpoint(options.tokenizer.empty() ? root : options.tokenizer, "tokenizer").string(); });
  const std::filesystem::path dynamics_path =
      run.from_rank0([&] { return resolve_checkpoint(options.dynamics.empty() ? root : options.dynamics, "dynamics").string(); });
  const tokenizer::LoadedTokenizer loaded_tokenizer = tokenizer::load_tokenizer(tokenizer_path, device);
  const tokenizer::VQModel tokenizer = loaded_tokenizer.model;
  // Real start windows: the data the world model trained on, frames tokenized by the
  // tokenizer the policy reads through (token shards must have been written by it).
  const DynamicsData data(config, run.dir().root(), tokenizer);
  if (!data.shards_tokenizer_hash().empty() && data.shards_tokenizer_hash() != loaded_tokenizer.content_hash) {
    throw core::Error(data.path().string() + " holds tokens of the tokenizer " + data.shards_tokenizer_hash() + ", but the policy reads through " +
                      tokenizer_path.string() + " (" + loaded_tokenizer.content_hash + "): set policy_train.tokenizer to the tokenizer of the shards");
  }
  const dynamics::WorldModel world = dynamics::load_dynamics(dynamics_path, device, &config.dynamics).model;
  const auto& t = tokenizer->options();
  if (world->options().tokens_per_frame != t.tokens_per_frame() || world->options().vocab_size != t.vocab_size) {
    throw core::Error(dynamics_path.string() + " reads frames of " + std::to_string(world->options().tokens_per_frame) + " tokens of " +
                      std::to_string(world->options().vocab_size) + ", but the tokenizer " + tokenizer_path.string() + " writes " +
                      std::to_string(t.tokens_per_frame()) + " tokens of " + std::to_string(t.vocab_size));
  }
  std::unique_ptr<envs::VectorEnv> env;
  if (options.eval_episodes > 0 || !world->options().discrete_actions()) env = envs::make_vector_env(config.env);

  policy::PolicyInputs inputs(tokenizer, config.policy.input);
  inputs.fit(config.policy);
  fit_actions(config.policy, world->options(), env.get());
  if (env) {
    const std::string mismatch = policy::action_space_mismatch(config.policy, env->action_space());
    if (!mismatch.empty()) throw core::Error("env.id = '" + env->name() + "': " + mismatch + " (the world model's, " + dynamics_path.string() + ")");
  }
  config.dynamics = world->options();  // the world model dreamt in, whatever the config said
  core::ConfigSchema schema;
  describe(schema, config);
  run.set_config_yaml(core::config_to_yaml(schema));

  dataloader::WindowSamplerOptions sampling = data.sampling(options.batch_size, options.context);
  sampling.pad_before_start = false;
  std::unique_ptr<dataloader::PrefetchingSampler> starts;  // made once the step is known (after --resume)
  policy::PolicyTrainer trainer(policy::ActorCritic(config.policy), policy::dreaming_model(world, options.dream_precision, device), inputs, options,
                                device);
  // Each rank dreams with draws of its own (rank 0 of a job, or one process, from run.seed).
  trainer.set_dream_seed(run.rank() == 0 ? static_cast<uint64_t>(config.run.seed) : core::seed_for(static_cast<uint64_t>(config.run.seed), static_cast<uint64_t>(run.rank())));

  const uint64_t eval_seed = static_cast<uint64_t>(config.run.seed) * 7919u + 1000003u;  // the same episodes at every evaluation
  core::TrainPhase phase{.name = "policy",
                         .options = &options,
                         .step = [&] { return trainer.step(); },
                         .train_step = [&] { return trainer.train_step(data.to_batch(starts->next())); },
                         .evaluate = {},
                         .save = [&](core::CheckpointWriter& writer) { trainer.save(writer); },
                         .restore = [&](const core::Checkpoint& checkpoint) { trainer.restore(checkpoint); }};
  if (env && options.eval_episodes > 0) {
    phase.evaluate = [&] {
      policy::PolicyAgent agent(trainer.policy(), trainer.inputs(), env->size());
      const std::vector<double> returns = envs::play_episodes(agent, *env, options.eval_episodes, eval_seed);
      trainer.policy()->train();
      const auto [mean, std] = envs::summarize_returns(returns);
      spdlog::info("step {}: real-environment return {:.1f} +- {:.1f} over {} episodes", trainer.step(), mean, std, returns.size());
      return core::Scalars{{"policy/eval_return_mean", mean}, {"policy/eval_return_std", std}};
    };
  }
  // Once everything that reads the inputs has succeeded: a command that fails on its data or
  // model, or is refused here, leaves the run's checkpoints and configs as they were.
  core::claim_phase(run, "policy", start);
  run.write_config(run.config_yaml(), "train_policy");
  if (start == core::PhaseStart::kResume) core::resume_phase(run, phase);
  trainer.share_across(run.shared_ranks());
  starts = phase_batches(run, data.train_part(), sampling, trainer.step(), /*depth=*/2);

  const auto& p = config.policy;
  spdlog::info("training the policy ({} input, {} channels, GRU {}, {}) in {} ({} steps of dreams from {} real frames, {} trajectories) "
               "on {}",
               policy::input_name(p.input), p.channels, p.hidden,
               p.discrete_actions() ? std::to_string(p.num_actions) + " discrete actions" : std::to_string(p.action_dim()) + "-d actions",
               dynamics_path.string(), options.horizon, options.context, options.batch_size, device.str());
  core::run_phase(run, phase, options.steps);
  spdlog::info("done at step {} after {:.0f} s", trainer.step(), run.elapsed_s());
}

}  // namespace wm::tools
