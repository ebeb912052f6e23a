#include "bench/env_bench.h"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "envs/driving_env.h"
#include "envs/driving_expert.h"
#include "envs/env_options.h"
#include "envs/gym_vector_env.h"

namespace wm::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Steps a vector env with random actions for at least min_seconds; returns steps/s.
double vector_steps_per_second(envs::VectorEnv& env, double min_seconds) {
  std::vector<uint8_t> frames(static_cast<size_t>(env.size() * env.frame_spec().bytes()));
  std::vector<envs::RandomPolicy> policies;
  for (int64_t i = 0; i < env.size(); ++i) policies.emplace_back(env.action_space(), static_cast<uint64_t>(i));
  std::vector<envs::Action> actions(static_cast<size_t>(env.size()));
  std::vector<envs::StepResult> results;
  env.reset(0, frames.data());
  int64_t steps = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < min_seconds) {
    for (int64_t i = 0; i < env.size(); ++i) actions[i] = policies[i].act();
    env.step(actions, frames.data(), results);
    steps += env.size();
  }
  return static_cast<double>(steps) / seconds_since(start);
}

double single_driving_steps_per_second(double min_seconds) {
  envs::DrivingEnv env;
  envs::RandomPolicy policy(env.action_space(), 1);
  std::vector<uint8_t> frame(env.frame_spec().bytes());
  env.reset(0, frame.data());
  int64_t steps = 0;
  uint64_t seed = 1;
  const auto start = Clock::now();
  while (seconds_since(start) < min_seconds) {
    for (int i = 0; i < 100; ++i, ++steps) {
      if (env.step(policy.act(), frame.data()).done()) env.reset(seed++, frame.data());
    }
  }
  return static_cast<double>(steps) / seconds_since(start);
}

// Mean and standard deviation of episode returns on seeds 0..episodes-1.
template <class MakeActor>
std::pair<double, double> driving_returns(int64_t episodes, MakeActor make_actor) {
  std::vector<double> returns;
  envs::DrivingEnv env;
  std::vector<uint8_t> frame(env.frame_spec().bytes());
  for (int64_t e = 0; e < episodes; ++e) {
    env.reset(static_cast<uint64_t>(e), frame.data());
    auto act = make_actor(env, e);
    double total = 0;
    for (envs::StepResult r; !r.done();) {
      r = env.step(act(env), frame.data());
      total += r.reward;
    }
    returns.push_back(total);
  }
  double mean = 0, var = 0;
  for (double r : returns) mean += r / static_cast<double>(returns.size());
  for (double r : returns) var += (r - mean) * (r - mean) / static_cast<double>(returns.size());
  return {mean, std::sqrt(var)};
}

BenchRecord record(const std::string& metric, double value, nlohmann::ordered_json context) {
  BenchRecord r;
  r.bench = "env";
  r.metric = metric;
  r.value = value;
  r.context = std::move(context);
  return r;
}

}  // namespace

std::vector<BenchRecord> run_env_bench(const EnvBenchOptions& options) {
  std::vector<BenchRecord> records;
  const int threads = at::get_num_threads();

  at::set_num_threads(1);
  records.push_back(record("driving_steps_per_s", single_driving_steps_per_second(options.min_seconds),
                           {{"envs", 1}, {"threads", 1}, {"frame", "64x64"}, {"supersample", 2}}));
  at::set_num_threads(threads);
  {
    envs::EnvOptions driving;
    driving.num_envs = options.vector_envs;
    auto env = envs::make_vector_env(driving);
    records.push_back(record("driving_vector_steps_per_s", vector_steps_per_second(*env, options.min_seconds),
                             {{"envs", options.vector_envs}, {"threads", threads}, {"frame", "64x64"}, {"supersample", 2}}));
  }
  if (options.gym) {
    envs::EnvOptions pong;
    pong.id = "ALE/Pong-v5";
    pong.num_envs = options.gym_workers;
    try {
      envs::GymVectorEnv env(pong);
      records.push_back(record("pong_bridge_steps_per_s", vector_steps_per_second(env, options.min_seconds),
                               {{"workers", options.gym_workers}, {"frame_skip", pong.frame_skip}, {"frame", "64x64"}}));
    } catch (const core::Error& e) {
      spdlog::warn("skipping the Gymnasium bridge figure: {}", e.what());
    }
  }

  const auto [expert_mean, expert_std] = driving_returns(options.return_episodes, [](const envs::DrivingEnv&, int64_t) {
    return [expert = envs::DrivingExpert()](const envs::DrivingEnv& env) mutable { return expert.act(env); };
  });
  const auto [random_mean, random_std] = driving_returns(options.return_episodes, [](const envs::DrivingEnv& env, int64_t e) {
    return [policy = envs::RandomPolicy(env.action_space(), static_cast<uint64_t>(e))](const envs::DrivingEnv&) mutable {
      return policy.act();
    };
  });
  records.push_back(record("driving_expert_return", expert_mean,
                           {{"std", expert_std}, {"episodes", options.return_episodes}, {"seeds", "0.."}}));
  records.push_back(record("driving_random_return", random_mean,
                           {{"std", random_std}, {"episodes", options.return_episodes}, {"seeds", "0.."}}));
  return records;
}

}  // namespace wm::bench
