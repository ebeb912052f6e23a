#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <torch/torch.h>

#include <fstream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "test_support.h"

namespace wm::core {
namespace {

struct TinyNetImpl : torch::nn::Module {
  explicit TinyNetImpl(int64_t width = 8)
      : fc1(register_module("fc1", torch::nn::Linear(4, width))),
        fc2(register_module("fc2", torch::nn::Linear(width, 2))) {}
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::relu(fc1(x))); }
  torch::nn::Linear fc1, fc2;
};
TORCH_MODULE(TinyNet);

// One Adam step so the optimizer has state worth saving.
void train_one_step(TinyNet& net, torch::optim::Adam& adam) {
  adam.zero_grad();
  net->forward(torch::randn({5, 4})).pow(2).sum().backward();
  adam.step();
}

using test::error_of;

CheckpointWriter make_writer(TinyNet& net, torch::optim::Adam& adam, int64_t step) {
  CheckpointWriter writer;
  writer.add_module("net", *net);
  writer.add_optimizer("adam", adam);
  writer.set_counter("step", step);
  writer.set_config_yaml("run:\n  seed: 3\n");
  return writer;
}

TEST(Checkpoint, RoundTripRestoresModuleOptimizerCountersConfigAndRng) {
  torch::manual_seed(0);
  TinyNet net;
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-2));
  train_one_step(net, adam);

  test::TempDir dir;
  CheckpointWriter writer = make_writer(net, adam, 42);
  writer.capture_rng_states();
  writer.save(dir / "a.ckpt");
  const torch::Tensor expected_draw = torch::randn({4});  // the draw right after the save

  torch::manual_seed(123);  // different init and RNG position
  TinyNet restored;
  torch::optim::Adam restored_adam(restored->parameters(), torch::optim::AdamOptions(1e-2));
  const Checkpoint checkpoint = Checkpoint::load(dir / "a.ckpt");
  checkpoint.restore_module("net", *restored);
  checkpoint.restore_optimizer("adam", restored_adam);
  checkpoint.restore_rng_states();

  EXPECT_TRUE(torch::equal(restored->fc1->weight, net->fc1->weight));
  EXPECT_TRUE(torch::equal(restored->fc2->bias, net->fc2->bias));
  EXPECT_EQ(checkpoint.counter("step"), 42);
  EXPECT_FALSE(checkpoint.has_counter("epoch"));
  EXPECT_EQ(checkpoint.config_yaml(), "run:\n  seed: 3\n");
  EXPECT_TRUE(torch::equal(torch::randn({4}), expected_draw));

  // Identical optimizer state means identical next steps.
  torch::manual_seed(7);
  train_one_step(net, adam);
  torch::manual_seed(7);
  train_one_step(restored, restored_adam);
  EXPECT_TRUE(torch::allclose(restored->fc1->weight, net->fc1->weight, 0, 0));
}

TEST(Checkpoint, FlippedByteFailsTheChecksum) {
  TinyNet net;
  torch::optim::Adam adam(net->parameters());
  test::TempDir dir;
  make_writer(net, adam, 1).save(dir / "a.ckpt");
  std::fstream file(dir / "a.ckpt", std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(200);
  char c = 0;
  file.seekg(200);
  file.get(c);
  file.seekp(200);
  file.put(static_cast<char>(c ^ 0x5a));
  file.close();
  const std::string message = error_of([&] { Checkpoint::load(dir / "a.ckpt"); });
  EXPECT_NE(message.find("checksum mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find((dir / "a.ckpt").string()), std::string::npos) << message;
}

TEST(Checkpoint, TruncatedFileNamesExpectedAndFoundSizes) {
  TinyNet net;
  torch::optim::Adam adam(net->parameters());
  test::TempDir dir;
  const std::string bytes = make_writer(net, adam, 1).serialize();
  std::ofstream(dir / "a.ckpt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const std::string message = error_of([&] { Checkpoint::load(dir / "a.ckpt"); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("a payload of " + std::to_string(bytes.size() - 20) + " bytes, and the file (" +
                         std::to_string(bytes.size() / 2) + " bytes) holds " + std::to_string(bytes.size() / 2 - 20)),
            std::string::npos)
      << message;
}

// A size field that wraps around 2^64 to the file's own length (18 bytes: a header and 2
// bytes) is refused before the checksum is read from past the end of the file.
TEST(Checkpoint, ASizeFieldThatWrapsAroundIsRefused) {
  test::TempDir dir;
  std::string bytes = "WMCKPT01";
  const uint64_t size = ~uint64_t{0} - 1;  // 16 + size + 4 == 18 (mod 2^64)
  bytes.append(reinterpret_cast<const char*>(&size), sizeof(size));
  bytes.append("xy");
  std::ofstream(dir / "a.ckpt", std::ios::binary) << bytes;
  const std::string message = error_of([&] { Checkpoint::load(dir / "a.ckpt"); });
  EXPECT_NE(message.find("truncated or has trailing bytes"), std::string::npos) << message;
}

TEST(Checkpoint, OtherFileIsNotACheckpoint) {
  test::TempDir dir;
  std::ofstream(dir / "a.ckpt") << "hello";
  EXPECT_NE(error_of([&] { Checkpoint::load(dir / "a.ckpt"); }).find("not a wm checkpoint"),
            std::string::npos);
}

TEST(Checkpoint, ModuleOfAnotherShapeIsAClearError) {
  TinyNet net(8);
  torch::optim::Adam adam(net->parameters());
  test::TempDir dir;
  make_writer(net, adam, 1).save(dir / "a.ckpt");
  TinyNet wider(16);
  const std::string message =
      error_of([&] { Checkpoint::load(dir / "a.ckpt").restore_module("net", *wider); });
  EXPECT_NE(message.find("module 'net' does not match"), std::string::npos) << message;
}

// policy_000000030.ckpt truncated (a crash mid-copy), policy_000000020.ckpt corrupt (a flipped
// byte of its checksum).
void damage_steps_30_and_20(const std::filesystem::path& dir) {
  std::filesystem::resize_file(dir / "policy_000000030.ckpt", 100);
  std::fstream file(dir / "policy_000000020.ckpt", std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(-10, std::ios::end);
  file.put('\x7f');
}

TEST(CheckpointDir, KeepsTheLastNOfEachKind) {
  TinyNet net;
  torch::optim::Adam adam(net->parameters());
  test::TempDir dir;
  CheckpointDir checkpoints(dir.path(), /*keep_last=*/2);
  for (int64_t step : {100, 200, 300, 400}) checkpoints.save(make_writer(net, adam, step), "tokenizer", step);
  checkpoints.save(make_writer(net, adam, 5), "dynamics", 5);
  const auto kept = checkpoints.list("tokenizer");
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].filename(), "tokenizer_000000400.ckpt");
  EXPECT_EQ(kept[1].filename(), "tokenizer_000000300.ckpt");
  EXPECT_EQ(checkpoints.list("dynamics").size(), 1u);
}

TEST(CheckpointDir, LatestValidFallsBackPastCorruptAndTruncatedFiles) {
  TinyNet net;
  torch::optim::Adam adam(net->parameters());
  test::TempDir dir;
  CheckpointDir checkpoints(dir.path(), /*keep_last=*/5);
  for (int64_t step : {10, 20, 30}) checkpoints.save(make_writer(net, adam, step), "policy", step);
  damage_steps_30_and_20(dir.path());
  const auto latest = checkpoints.load_latest_valid("policy");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->counter("step"), 10);
  EXPECT_FALSE(checkpoints.load_latest_valid("tokenizer").has_value());
  // Both damaged files were moved aside, so nothing tries them again.
  EXPECT_TRUE(std::filesystem::exists(dir / "policy_000000030.ckpt.corrupt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "policy_000000020.ckpt.corrupt"));
  EXPECT_EQ(checkpoints.list("policy").size(), 1u);
}

TEST(CheckpointDir, KeepLastCountsOnlyCheckpointsThatVerify) {
  // Issue 16: with keep_last 3 and two corrupt files, one valid checkpoint survived.
  TinyNet net;
  torch::optim::Adam adam(net->parameters());
  test::TempDir dir;
  CheckpointDir checkpoints(dir.path(), /*keep_last=*/3);
  for (int64_t step : {10, 20, 30}) checkpoints.save(make_writer(net, adam, step), "policy", step);
  damage_steps_30_and_20(dir.path());
  for (int64_t step : {40, 50}) checkpoints.save(make_writer(net, adam, step), "policy", step);
  std::vector<std::string> kept;
  for (const auto& path : checkpoints.list("policy")) kept.push_back(path.filename().string());
  EXPECT_EQ(kept, (std::vector<std::string>{"policy_000000050.ckpt", "policy_000000040.ckpt", "policy_000000010.ckpt"}));
  EXPECT_TRUE(std::filesystem::exists(dir / "policy_000000030.ckpt.corrupt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "policy_000000020.ckpt.corrupt"));
}

TEST(CheckpointDir, TemporariesOfKilledSavesAreRemovedAndALiveWritersKept) {
  TinyNet net;
  torch::optim::Adam adam(net->parameters());
  test::TempDir dir;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const auto dead = dir / ("policy_000000010.ckpt.tmp." + std::to_string(child));
  const auto live = dir / ("policy_000000020.ckpt.tmp." + std::to_string(::getpid()));
  test::write_text(dead, "half a checkpoint");
  test::write_text(live, "a save in progress");
  CheckpointDir checkpoints(dir.path(), /*keep_last=*/3);
  checkpoints.save(make_writer(net, adam, 30), "policy", 30);
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(live));
}

TEST(Checkpoint, ContentHashIdentifiesContents) {
  TinyNet net;
  torch::optim::Adam adam(net->parameters());
  test::TempDir dir;
  make_writer(net, adam, 1).save(dir / "a.ckpt");
  make_writer(net, adam, 1).save(dir / "b.ckpt");
  make_writer(net, adam, 2).save(dir / "c.ckpt");
  EXPECT_EQ(Checkpoint::load(dir / "a.ckpt").content_hash(), Checkpoint::load(dir / "b.ckpt").content_hash());
  EXPECT_NE(Checkpoint::load(dir / "a.ckpt").content_hash(), Checkpoint::load(dir / "c.ckpt").content_hash());
}

}  // namespace
}  // namespace wm::core
