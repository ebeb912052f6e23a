#include "tools/tiny_driving_run.h"

#include <torch/torch.h>

#include <fstream>

#include "core/checkpoint.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tokenizer/tokenizer_test_support.h"

namespace wm::test {

nlohmann::json last_with(const std::filesystem::path& metrics, const std::string& key) {
  std::ifstream in(metrics);
  nlohmann::json found;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains(key)) found = j;
  }
  return found;
}

const std::string TinyDrivingRun::kTinyModel =
    " dynamics.layers=1 dynamics.width=32 dynamics.heads=2 dynamics.context_steps=4 dynamics_train.batch_size=4"
    " dynamics_train.warmup_steps=2 dynamics_train.eval_every=5 dynamics_train.eval_batches=2 log.every_steps=5"
    " checkpoint.every_steps=5 run.device=cpu";

void TinyDrivingRun::SetUp() {
  run_ = " run.out_dir=" + dir_.path().string() + " run.name=d";
  const auto collect = run_command(wm_binary() + " collect --config configs/demo.yaml --steps 160 --policy expert" + run_ +
                                   " env.height=32 env.width=32 env.max_steps=40 env.num_envs=2");
  ASSERT_EQ(collect.exit_code, 0) << collect.err;
  torch::manual_seed(0);
  tokenizer::VQModel model(tokenizer::small_options());
  core::CheckpointWriter writer;
  tokenizer::add_tokenizer(writer, model);
  writer.save(dir_ / "tok.ckpt");
}

void TinyDrivingRun::train_tiny_dynamics(int steps) {
  const auto r = run_command(wm_binary() + " train dynamics --config configs/demo.yaml" + run_ + kTinyModel + " dynamics_train.steps=" +
                             std::to_string(steps) + " dynamics_train.tokenizer=" + (dir_ / "tok.ckpt").string() +
                             " data.path=" + (dir_ / "d" / "episodes").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace wm::test
