// Token arrays made elsewhere into a wm token dump (dataloader/token_import.h): both array
// shapes give the same shards, sidecars come along, every value is range-checked with a line
// naming the file, and a bad file is skipped while the others are written.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "core/npy.h"
#include "dataloader/token_import.h"
#include "dataloader/token_shard_source.h"
#include "test_support.h"

namespace wm::dataloader {
namespace {

TokenImportOptions comma_like() {
  TokenImportOptions o;
  o.grid_height = 8;
  o.grid_width = 16;
  o.vocab_size = 1024;
  o.fps = 20;
  return o;
}

at::Tensor random_tokens(int64_t frames, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(0, 1024, {frames, 8, 16}, gen, torch::kInt64).to(torch::kInt16);
}

// The first error line for `file` among the failures ("" when none names it).
std::string failure_naming(const TokenImportResult& r, const std::string& file) {
  for (const auto& f : r.failures) {
    if (f.find(file) != std::string::npos) return f;
  }
  return "";
}

TEST(TokenImport, FlatAndGridShapedArraysBecomeTheSameShardsWithAManifestAndCrcs) {
  test::TempDir dir;
  const at::Tensor tokens = random_tokens(30, 1);  // [30, 8, 16]
  std::filesystem::create_directories(dir / "in");
  core::write_npy(dir / "in" / "flat.npy", tokens.reshape({30, 128}));
  core::write_npy(dir / "in" / "grid.npy", tokens);
  const TokenImportResult r = import_tokens({dir / "in"}, dir / "out", comma_like());
  EXPECT_TRUE(r.failures.empty()) << r.failures.front();
  EXPECT_EQ(r.written, 2);
  EXPECT_EQ(r.frames, 60);
  ASSERT_EQ(r.manifest.shards.size(), 2u);
  EXPECT_EQ(r.manifest.tokenizer.grid_height, 8);
  EXPECT_EQ(r.manifest.tokenizer.grid_width, 16);
  EXPECT_EQ(r.manifest.tokenizer.vocab_size, 1024);

  const TokenManifest read = read_token_manifest(dir / "out");
  for (const auto& shard : read.shards) {
    EXPECT_EQ(verify_token_shard(dir / "out", read, shard), "") << shard.name;  // files, shape, CRC, ids
    const at::Tensor stored = core::read_npy(dir / "out" / shard.name / "tokens.npy");
    EXPECT_EQ(stored.scalar_type(), torch::kShort);
    EXPECT_TRUE(torch::equal(stored, tokens)) << shard.name;
    EXPECT_FALSE(shard.has_actions);
    EXPECT_EQ(read_shard_meta(dir / "out" / shard.name)->fps, 20);
  }
  // The dynamics trainer's reader opens it: two episodes of 30 frames, no actions (action 0).
  TokenShardSource source(dir / "out");
  EXPECT_EQ(source.num_episodes(), 2);
  EXPECT_EQ(source.episode_length(0), 30);
  EXPECT_EQ(source.discrete_action_count(), 1);
}

TEST(TokenImport, SidecarsBringActionsRewardsAndEpisodeEnds) {
  test::TempDir dir;
  core::write_npy(dir / "seg.npy", random_tokens(10, 2).reshape({10, 128}).to(torch::kInt32));
  core::write_npy(dir / "seg.actions.npy", torch::rand({10, 2}));  // continuous: steering, gas
  core::write_npy(dir / "seg.rewards.npy", torch::arange(10, torch::kFloat32));
  core::write_npy(dir / "other.npy", random_tokens(6, 3));
  core::write_npy(dir / "other.dones.npy", torch::tensor({0, 0, 0, 0, 0, 1}, torch::kUInt8));  // no actions: discrete zeros
  const TokenImportResult r = import_tokens({dir / "seg.npy"}, dir / "out", comma_like());
  ASSERT_TRUE(r.failures.empty()) << r.failures.front();
  // Discrete zeros beside continuous actions would be two action spaces: another folder.
  const TokenImportResult other = import_tokens({dir / "other.npy"}, dir / "out_other", comma_like());
  ASSERT_TRUE(other.failures.empty()) << other.failures.front();
  EXPECT_TRUE(torch::equal(core::read_npy(dir / "out" / "seg.npy" / "actions.npy"), core::read_npy(dir / "seg.actions.npy")));
  EXPECT_TRUE(torch::equal(core::read_npy(dir / "out" / "seg.npy" / "rewards.npy"), torch::arange(10, torch::kFloat32)));
  EXPECT_EQ(core::read_npy(dir / "out" / "seg.npy" / "dones.npy").sum().item<int64_t>(), 0);
  EXPECT_TRUE(torch::equal(core::read_npy(dir / "out_other" / "other.npy" / "actions.npy"), torch::zeros({6}, torch::kInt64)));
  EXPECT_EQ(core::read_npy(dir / "out_other" / "other.npy" / "dones.npy")[5].item<int64_t>(), 1);
}

TEST(TokenImport, EveryBadValueIsALineNamingTheFileAndTheOthersAreStillImported) {
  test::TempDir dir;
  const auto in = dir / "in";
  std::filesystem::create_directories(in);
  core::write_npy(in / "good.npy", random_tokens(5, 4));
  at::Tensor too_big = random_tokens(5, 5);
  too_big[3][2][7] = 1024;
  core::write_npy(in / "too_big.npy", too_big);
  at::Tensor negative = random_tokens(5, 6).to(torch::kInt32);
  negative[1][0][0] = -2;
  core::write_npy(in / "negative.npy", negative);
  core::write_npy(in / "floats.npy", random_tokens(5, 7).to(torch::kFloat32));
  core::write_npy(in / "wrong_grid.npy", torch::zeros({5, 16, 8}, torch::kInt16));
  core::write_npy(in / "empty.npy", torch::zeros({0, 128}, torch::kInt16));
  core::write_npy(in / "short.npy", random_tokens(5, 8));
  core::write_npy(in / "short.actions.npy", torch::zeros({4}, torch::kInt64));
  core::write_npy(in / "nan.npy", random_tokens(5, 9));
  at::Tensor nan_rewards = torch::zeros({5});
  nan_rewards[2] = std::numeric_limits<float>::quiet_NaN();
  core::write_npy(in / "nan.rewards.npy", nan_rewards);
  core::write_npy(in / "bad_done.npy", random_tokens(5, 10));
  core::write_npy(in / "bad_done.dones.npy", torch::tensor({0, 2, 0, 0, 0}, torch::kUInt8));
  core::write_npy(in / "bad_action.npy", random_tokens(5, 11));
  core::write_npy(in / "bad_action.actions.npy", torch::tensor({0, 1, -1, 0, 0}, torch::kInt64));

  const TokenImportResult r = import_tokens({in, dir / "missing"}, dir / "out", comma_like());
  EXPECT_EQ(r.written, 1);
  ASSERT_EQ(r.manifest.shards.size(), 1u);
  EXPECT_EQ(r.manifest.shards[0].name, "good.npy");
  const std::map<std::string, std::string> expected = {
      {"too_big.npy", "token id 1024 at frame 3, place (2, 7) is outside the vocabulary 0..1023"},
      {"negative.npy", "token id -2 at frame 1, place (0, 0) is outside the vocabulary 0..1023"},
      {"floats.npy", "token ids must be integers, got Float"},
      {"wrong_grid.npy", "shape [5, 16, 8] is neither [T, 128] nor [T, 8, 16]"},
      {"empty.npy", "holds no frames"},
      {"short.actions.npy", "4 rows for 5 frames of tokens"},
      {"nan.rewards.npy", "row 2 holds nan, not a finite number"},
      {"bad_done.dones.npy", "row 1 holds 2, episode ends are 0 or 1"},
      {"bad_action.actions.npy", "row 2 holds action -1"},
      {"missing", "no such file or folder"}};
  EXPECT_EQ(r.failures.size(), expected.size());
  for (const auto& [file, reason] : expected) {
    const std::string line = failure_naming(r, file);
    EXPECT_NE(line.find(reason), std::string::npos) << file << ": " << line;
  }
}

// Two files of one name would overwrite each other's shard, and two action spaces in one
// folder would make a dump the trainer cannot read: the later file is skipped, named.
TEST(TokenImport, ASecondFileOfTheSameNameOrAnotherActionSpaceIsSkippedNamingBoth) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "a");
  std::filesystem::create_directories(dir / "b");
  core::write_npy(dir / "a" / "seg.npy", random_tokens(4, 13));
  core::write_npy(dir / "a" / "seg.actions.npy", torch::zeros({4, 2}));
  core::write_npy(dir / "b" / "seg.npy", random_tokens(4, 14));
  core::write_npy(dir / "c.npy", random_tokens(4, 15));
  core::write_npy(dir / "c.actions.npy", torch::zeros({4}, torch::kInt64));
  const TokenImportResult r = import_tokens({dir / "a" / "seg.npy", dir / "b" / "seg.npy", dir / "c.npy"}, dir / "out", comma_like());
  EXPECT_EQ(r.written, 1);
  EXPECT_NE(failure_naming(r, "b/seg.npy").find("its shard name seg.npy is taken by " + (dir / "a" / "seg.npy").string()), std::string::npos)
      << failure_naming(r, "b/seg.npy");
  EXPECT_NE(failure_naming(r, "c.npy").find("discrete actions, but " + (dir / "a" / "seg.npy").string() + " has 2-value continuous actions"),
            std::string::npos)
      << failure_naming(r, "c.npy");
  // A later run meets the shard on disk the same way.
  const TokenImportResult later = import_tokens({dir / "b" / "seg.npy"}, dir / "out", comma_like());
  EXPECT_EQ(later.written, 0);
  EXPECT_NE(failure_naming(later, "b/seg.npy").find("imported before"), std::string::npos);
}

TEST(TokenImport, ARerunSkipsWhatIsDoneAndAnotherGridOrATokenizersDumpIsRefused) {
  test::TempDir dir;
  core::write_npy(dir / "a.npy", random_tokens(4, 12));
  EXPECT_EQ(import_tokens({dir / "a.npy"}, dir / "out", comma_like()).written, 1);
  const TokenImportResult again = import_tokens({dir / "a.npy"}, dir / "out", comma_like());
  EXPECT_EQ(again.written, 0);
  EXPECT_EQ(again.already_done, 1);
  TokenImportOptions forced = comma_like();
  forced.force = true;
  EXPECT_EQ(import_tokens({dir / "a.npy"}, dir / "out", forced).written, 1);

  TokenImportOptions other_grid = comma_like();
  other_grid.grid_height = 16;
  other_grid.grid_width = 8;
  EXPECT_NE(test::error_of([&] { import_tokens({dir / "a.npy"}, dir / "out", other_grid); })
                .find("holds tokens of imported-8x16-v1024 (grid 8x16, vocabulary 1024): import into another folder"),
            std::string::npos);
  TokenImportOptions huge = comma_like();
  huge.vocab_size = 65536;
  EXPECT_NE(test::error_of([&] { import_tokens({dir / "a.npy"}, dir / "out2", huge); }).find("the vocabulary 65536 is outside 1..32768"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "out2"));
}

}  // namespace
}  // namespace wm::dataloader
