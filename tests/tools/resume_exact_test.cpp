// A resumed run is the uninterrupted run: for each trainer, run "whole" trains to the end;
// run "cut" trains the same, loses every checkpoint after step `cut` (as a kill just after
// that checkpoint leaves it, but with the later metrics already logged), and resumes. Both
// must log the same loss at every step, each step once, and end on bitwise equal weights
// (CPU, the same thread count: the RNG states and the data cursor travel in the checkpoint).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "dynamics/dynamics_checkpoint.h"
#include "policy/policy_checkpoint.h"
#include "test_support.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

// (step -> value) of every metrics line that logs `key`; a step logged twice fails the test.
std::map<int64_t, double> logged(const std::filesystem::path& metrics, const std::string& key) {
  std::map<int64_t, double> values;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains(key)) continue;
    const int64_t step = j["step"].get<int64_t>();
    EXPECT_EQ(values.count(step), 0u) << key << " is logged twice at step " << step << " in " << metrics;
    values[step] = j[key].get<double>();
  }
  return values;
}

// The names starting with `prefix` in any line of `metrics`, less the speeds (`*_per_s`).
std::vector<std::string> figure_names(const std::filesystem::path& metrics, const std::string& prefix) {
  std::set<std::string> names;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json entry = nlohmann::json::parse(line);  // kept: items() refers into it
    for (const auto& [name, value] : entry.items()) {
      const bool speed = name.size() > 6 && name.compare(name.size() - 6, 6, "_per_s") == 0;
      if (name.rfind(prefix, 0) == 0 && !speed) names.insert(name);
    }
  }
  return {names.begin(), names.end()};
}

std::filesystem::path checkpoint_of(const std::filesystem::path& run, const std::string& kind, int step) {
  char name[64];
  std::snprintf(name, sizeof name, "%s_%09d.ckpt", kind.c_str(), step);
  return run / "checkpoints" / name;
}

void expect_same_tensors(const std::vector<std::pair<std::string, at::Tensor>>& a, const std::vector<std::pair<std::string, at::Tensor>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first << " differs: max |difference| "
                                                        << (a[i].second - b[i].second).abs().max().item<double>();
  }
}

template <typename Module>
std::vector<std::pair<std::string, at::Tensor>> weights(const Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const auto& item : module->named_parameters()) named.emplace_back(item.key(), item.value());
  for (const auto& item : module->named_buffers()) named.emplace_back(item.key(), item.value());
  return named;
}

class ResumeExact : public test::TinyDrivingRun {
 protected:
  // Runs `command run.name=whole` and, cut after step `cut`, `command run.name=cut` then
  // `... --resume`; checks the loss curves. `kind`: the checkpoint kind and metrics prefix.
  void train_whole_and_resumed(const std::string& command, const std::string& kind, int cut, int steps) {
    const std::string out = " run.out_dir=" + dir_.path().string() + " run.threads=2";
    const auto whole = test::run_command(command + out + " run.name=whole");
    ASSERT_EQ(whole.exit_code, 0) << whole.err;
    const auto first = test::run_command(command + out + " run.name=cut");
    ASSERT_EQ(first.exit_code, 0) << first.err;
    for (int step = cut + 1; step <= steps; ++step) std::filesystem::remove(checkpoint_of(dir_ / "cut", kind, step));
    ASSERT_TRUE(std::filesystem::exists(checkpoint_of(dir_ / "cut", kind, cut)));
    const auto resumed = test::run_command(command + out + " run.name=cut --resume");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_NE(resumed.err.find("at step " + std::to_string(cut) + " ("), std::string::npos) << resumed.err;
    EXPECT_NE(resumed.err.find("metrics line(s) of later steps dropped"), std::string::npos) << resumed.err;

    // Every figure of the phase, not only the loss (a resumed tokenizer once logged another
    // codebook_usage); speeds alone depend on the clock.
    const std::vector<std::string> keys = figure_names(dir_ / "whole" / "metrics.jsonl", kind + "/");
    ASSERT_GT(keys.size(), 3u);
    for (const std::string& key : keys) {
      const std::map<int64_t, double> expected = logged(dir_ / "whole" / "metrics.jsonl", key);
      const std::map<int64_t, double> got = logged(dir_ / "cut" / "metrics.jsonl", key);
      if (key == kind + "/loss") ASSERT_EQ(static_cast<int>(expected.size()), steps) << "log.every_steps=1 logs every step";
      EXPECT_EQ(got, expected) << "the resumed run's " << key << " differs from the uninterrupted run's";
    }
    ASSERT_TRUE(std::filesystem::exists(checkpoint_of(dir_ / "cut", kind, steps)));
  }

  // Every step logged; a checkpoint every `every` steps, all of them kept.
  static std::string run_flags(int every) {
    return " run.device=cpu log.every_steps=1 checkpoint.every_steps=" + std::to_string(every) + " checkpoint.keep_last=10";
  }
};

TEST_F(ResumeExact, TokenizerWithCodeRestartsAcrossTheCut) {
  const std::string command = test::wm_binary() + " train tokenizer --config configs/demo.yaml data.path=" + (dir_ / "d" / "episodes").string() +
                              " tokenizer.height=32 tokenizer.width=32 tokenizer.downsample=4 tokenizer.channel_mult=[1,2,2]"
                              " tokenizer.base_channels=16 tokenizer.vocab_size=64 tokenizer.code_dim=8 tokenizer.restart_every=4"
                              " tokenizer_train.batch_size=4 tokenizer_train.eval_every=6 tokenizer_train.eval_frames=8 tokenizer_train.steps=12" +
                              run_flags(6);
  train_whole_and_resumed(command, "tokenizer", 6, 12);
  const auto whole = tokenizer::load_tokenizer(checkpoint_of(dir_ / "whole", "tokenizer", 12), c10::Device(c10::kCPU));
  const auto resumed = tokenizer::load_tokenizer(checkpoint_of(dir_ / "cut", "tokenizer", 12), c10::Device(c10::kCPU));
  expect_same_tensors(weights(whole.model), weights(resumed.model));
}

TEST_F(ResumeExact, DynamicsWithGradientAccumulation) {
  const std::string command = test::wm_binary() + " train dynamics --config configs/demo.yaml" + kTinyModel +
                              " dynamics_train.grad_accumulation=2 dynamics_train.steps=10 dynamics_train.tokenizer=" + (dir_ / "tok.ckpt").string() +
                              " data.path=" + (dir_ / "d" / "episodes").string() + run_flags(5);
  train_whole_and_resumed(command, "dynamics", 5, 10);
  const auto whole = dynamics::load_dynamics(checkpoint_of(dir_ / "whole", "dynamics", 10), c10::Device(c10::kCPU));
  const auto resumed = dynamics::load_dynamics(checkpoint_of(dir_ / "cut", "dynamics", 10), c10::Device(c10::kCPU));
  expect_same_tensors(weights(whole.model), weights(resumed.model));
}

TEST_F(ResumeExact, PolicyDreamsTheSameAfterTheCut) {
  train_tiny_dynamics(5);
  const std::string command = test::wm_binary() + " train policy --config configs/demo.yaml" + kTinyModel + " data.path=" +
                              (dir_ / "d" / "episodes").string() + " dynamics_train.tokenizer=" + (dir_ / "tok.ckpt").string() +
                              " policy_train.tokenizer=" + (dir_ / "tok.ckpt").string() + " policy_train.dynamics=" + (dir_ / "d").string() +
                              " policy.channels=8 policy.hidden=16 policy_train.batch_size=4 policy_train.horizon=3 policy_train.context=2"
                              " policy_train.warmup_steps=1 policy_train.eval_episodes=0 policy_train.steps=6" + run_flags(3);
  train_whole_and_resumed(command, "policy", 3, 6);
  const auto whole = policy::load_policy(checkpoint_of(dir_ / "whole", "policy", 6), c10::Device(c10::kCPU));
  const auto resumed = policy::load_policy(checkpoint_of(dir_ / "cut", "policy", 6), c10::Device(c10::kCPU));
  expect_same_tensors(weights(whole), weights(resumed));
}

}  // namespace
}  // namespace wm
