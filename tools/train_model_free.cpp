#include "tools/train_model_free.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "core/config.h"
#include "core/error.h"
#include "core/train_loop.h"
#include "envs/agent.h"
#include "policy/model_free_trainer.h"
#include "policy/policy_agent.h"
#include "tools/training_run.h"
#include "tools/wm_config.h"

namespace wm::tools {

void train_model_free(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start) {
  const LoadedConfig loaded = load_wm_config(config_file, overrides);
  WmConfig config = loaded.config;
  config.model_free.validate();
  config.policy_train.validate();
  // The policy reads the real frames; each update learns from envs x horizon real steps.
  config.policy.input = policy::PolicyInput::kPixels;
  config.env.num_envs = config.model_free.envs;
  const int64_t per_update = config.model_free.envs * config.policy_train.horizon;
  config.policy_train.steps = (config.model_free.real_steps + per_update - 1) / per_update;
  config.policy_train.time_budget_s = 0;
  core::RunContext run = open_training_run(config, loaded.yaml);
  require_one_process(run, "wm train modelfree");
  const c10::Device device = training_device(config);

  auto env = envs::make_vector_env(config.env);
  const envs::ActionSpace& actions = env->action_space();
  policy::PolicyInputs inputs = policy::PolicyInputs::pixels(env->frame_spec().height, env->frame_spec().width, device);
  inputs.fit(config.policy);
  config.policy.num_actions = actions.is_discrete() ? actions.n : 0;
  config.policy.action_low.assign(actions.low.begin(), actions.low.end());
  config.policy.action_high.assign(actions.high.begin(), actions.high.end());
  core::ConfigSchema schema;
  describe(schema, config);
  run.set_config_yaml(core::config_to_yaml(schema));

  // The training episodes and the evaluation's never share a seed.
  const uint64_t train_seed = static_cast<uint64_t>(config.run.seed) * 1000003u + 17u;
  const uint64_t eval_seed = static_cast<uint64_t>(config.run.seed) * 7919u + 1000003u;  // as wm train all and wm train policy
  policy::ModelFreeTrainer trainer(policy::ActorCritic(config.policy), inputs, config.policy_train, *env, device, train_seed);
  auto eval_env = envs::make_vector_env([&] {
    envs::EnvOptions o = config.env;
    o.num_envs = std::min<int64_t>(config.env.num_envs, 4);
    return o;
  }());
  const auto& options = config.policy_train;
  core::TrainPhase phase{.name = "policy",
                         .options = &options,
                         .step = [&] { return trainer.step(); },
                         .train_step = [&] { return trainer.train_step(); },
                         .evaluate = {},
                         .save = [&](core::CheckpointWriter& writer) { trainer.save(writer); },
                         .restore = [&](const core::Checkpoint& checkpoint) { trainer.restore(checkpoint); }};
  if (options.eval_episodes > 0) {
    phase.evaluate = [&] {
      torch::manual_seed(eval_seed);  // the policy's draws: the same evaluation whenever it runs
      policy::PolicyAgent agent(trainer.policy(), trainer.inputs(), eval_env->size());
      const auto [mean, std] = envs::summarize_returns(envs::play_episodes(agent, *eval_env, options.eval_episodes, eval_seed));
      trainer.policy()->train();
      // Training draws go on from a seed of their own step, not from where the evaluation's
      // fixed seed left the generator (which would replay the same noise after every evaluation).
      torch::manual_seed(train_seed + static_cast<uint64_t>(trainer.step()) * 104729u);
      spdlog::info("step {} ({} real steps): real-environment return {:.1f} +- {:.1f} over {} episodes", trainer.step(), trainer.real_steps(), mean,
                   std, options.eval_episodes);
      return core::Scalars{{"policy/eval_return_mean", mean}, {"policy/eval_return_std", std}};
    };
  }
  // Once everything that reads the inputs has succeeded: a command that fails on its data or
  // model, or is refused here, leaves the run's checkpoints and configs as they were.
  core::claim_phase(run, "policy", start);
  run.write_config(run.config_yaml(), "train_modelfree");
  if (start == core::PhaseStart::kResume) core::resume_phase(run, phase);

  spdlog::info("training the policy model-free (pixels, {} channels, GRU {}) on {} for {} real steps: {} updates of {} environments x {} steps",
               config.policy.channels, config.policy.hidden, env->name(), config.model_free.real_steps, options.steps, env->size(),
               options.horizon);
  core::run_phase(run, phase, options.steps);
  spdlog::info("done at update {} after {} real steps, {:.0f} s", trainer.step(), trainer.real_steps(), run.elapsed_s());
}

}  // namespace wm::tools
