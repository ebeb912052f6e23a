#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file_io.h"
#include "core/npy.h"
#include "dataloader/token_shard_source.h"
#include "dataloader/token_shards.h"
#include "test_support.h"

namespace wm::dataloader {
namespace {

TokenizerIdentity identity(const std::string& hash) { return {"tok.ckpt", hash, 2, 3, 16, 16, 24}; }

TokenShard shard(const std::string& name, int64_t frames, const std::string& hash) {
  TokenShard s;
  s.meta.name = name;
  s.meta.source = "/data/" + name;
  s.meta.frames = frames;
  s.meta.tokenizer_hash = hash;
  s.tokens = torch::arange(frames * 6).remainder(16).view({frames, 2, 3});
  return s;
}

TEST(TokenShards, NamesFollowTheSourcePathUnderItsInput) {
  EXPECT_EQ(shard_name("/data", "/data/a.mp4"), "a.mp4");
  EXPECT_EQ(shard_name("/data", "/data/sub/b.mkv"), "sub__b.mkv");
  EXPECT_EQ(shard_name("/data", "/elsewhere/c.mp4"), "c.mp4");
  EXPECT_EQ(shard_name("/data", "/data/x.tmp"), "x.tmp_");  // never mistaken for a partial shard
}

TEST(TokenShards, AWrittenShardReadsBackAndTheManifestListsOnlyCompleteCurrentShards) {
  test::TempDir dir;
  TokenShard a = shard("a.mp4", 5, "h1"), b = shard("b.mp4", 3, "h1"), old = shard("old.mp4", 2, "h0");
  a.actions = torch::zeros({5, 2});
  a.rewards = torch::zeros({5});
  a.dones = torch::zeros({5}, torch::kUInt8);
  for (TokenShard* s : {&a, &b, &old}) write_token_shard(dir.path(), *s);
  std::filesystem::create_directories(dir / "c.mp4.tmp");  // what a killed run leaves

  const auto meta = read_shard_meta(dir / "a.mp4");
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->frames, 5);
  EXPECT_TRUE(meta->has_actions);
  EXPECT_EQ(meta->tokens_crc32c, a.meta.tokens_crc32c);
  EXPECT_EQ(core::read_npy(dir / "a.mp4" / "tokens.npy").scalar_type(), torch::kInt16);

  EXPECT_EQ(remove_partial_shards(dir.path()), 1);
  const TokenManifest written = rebuild_token_manifest(dir.path(), identity("h1"));
  ASSERT_EQ(written.shards.size(), 2u);  // not the shard of tokenizer h0
  EXPECT_EQ(written.frames(), 8);
  const TokenManifest read = read_token_manifest(dir.path());
  EXPECT_EQ(read.tokenizer.hash, "h1");
  EXPECT_EQ(read.tokenizer.grid_width, 3);
  ASSERT_EQ(read.shards.size(), 2u);
  EXPECT_EQ(read.shards[0].name, "a.mp4");
  for (const auto& s : read.shards) EXPECT_EQ(verify_token_shard(dir.path(), read, s), "") << s.name;
}

TEST(TokenShards, VerifyNamesWhatIsWrong) {
  test::TempDir dir;
  TokenShard a = shard("a.mp4", 4, "h1");
  write_token_shard(dir.path(), a);
  TokenManifest manifest = rebuild_token_manifest(dir.path(), identity("h1"));
  ShardMeta entry = manifest.shards.at(0);

  entry.frames = 5;  // the manifest disagrees with the file
  EXPECT_NE(verify_token_shard(dir.path(), manifest, entry).find("the manifest says int16 [5, 2, 3]"), std::string::npos);
  entry = manifest.shards.at(0);
  manifest.tokenizer.vocab_size = 8;  // ids up to 15 are outside a vocabulary of 8
  EXPECT_NE(verify_token_shard(dir.path(), manifest, entry).find("ids outside 0..7"), std::string::npos);
  EXPECT_THROW(read_token_manifest(dir / "nowhere"), core::Error);
}

// Found by fuzz_token_dump in CI: a manifest whose "format" is a number threw nlohmann's
// type_error out of is_token_dump; it is not a dump, and reading it is one line naming it.
TEST(TokenShards, AManifestWhoseFormatIsNotAStringIsNotADump) {
  test::TempDir dir;
  test::write_text(dir / "manifest.json", "{\"format\": 0, \"shards\": []}");
  EXPECT_FALSE(is_token_dump(dir.path()));
  const std::string message = test::error_of([&] { read_token_manifest(dir.path()); });
  EXPECT_NE(message.find((dir / "manifest.json").string()), std::string::npos) << message;
}

// Found by fuzz_token_dump (UBSan): a fraction or an out-of-range number was cast to an integer
// without a check. Each is now one line naming the manifest and the key.
TEST(TokenShards, ANumberThatIsNotAWholeNumberInRangeIsNamedWithItsKey) {
  test::TempDir dir;
  TokenShard written = shard("a.mp4", 4, "h1");
  write_token_shard(dir.path(), written);
  rebuild_token_manifest(dir.path(), identity("h1"));
  const std::string valid = core::read_file(dir / "manifest.json");
  ASSERT_NO_THROW(read_token_manifest(dir.path()));

  const std::vector<std::pair<std::string, std::string>> damages = {
      {"\"vocab_size\": 16", "\"vocab_size\": 1e300"},     {"\"vocab_size\": 16", "\"vocab_size\": 16.5"},
      {"\"vocab_size\": 16", "\"vocab_size\": -16"},       {"\"frames\": 4,", "\"frames\": -4,"},
      {"\"frames\": 4,", "\"frames\": 18446744073709551615,"}, {"\"name\": \"a.mp4\"", "\"name\": \"..\""}};
  for (const auto& [from, to] : damages) {
    std::string text = valid;
    const auto at = text.rfind(from);  // the last: "frames" also stands at the top, where it is not read
    ASSERT_NE(at, std::string::npos) << from << " in " << valid;
    text.replace(at, from.size(), to);
    test::write_text(dir / "manifest.json", text);
    const std::string message = test::error_of([&] { read_token_manifest(dir.path()); });
    EXPECT_NE(message.find((dir / "manifest.json").string()), std::string::npos) << to << ": " << message;
    const std::string key = to.substr(1, to.find('"', 1) - 1);
    EXPECT_NE(message.find(key), std::string::npos) << to << ": " << message;
  }
  // A shard's own meta.json with a negative checksum is not a readable shard (the dump re-does it).
  std::string meta = core::read_file(dir / "a.mp4" / "meta.json");
  const auto crc = meta.find("\"tokens_crc32c\": ");
  ASSERT_NE(crc, std::string::npos) << meta;
  meta.replace(crc, meta.find('\n', crc) - crc, "\"tokens_crc32c\": -1");
  test::write_text(dir / "a.mp4" / "meta.json", meta);
  EXPECT_FALSE(read_shard_meta(dir / "a.mp4"));
}

TEST(TokenShards, AnInterruptedDumpIsNamedAsOneToFinishNotAsNoDump) {
  test::TempDir dir;
  TokenShard written = shard("a.mp4", 4, "h1");
  write_token_shard(dir.path(), written);  // a shard written, the manifest not yet
  std::filesystem::create_directories(dir / "b.mp4.tmp");
  const std::string message = test::error_of([&] { read_token_manifest(dir.path()); });
  EXPECT_NE(message.find(dir.path().string() + " is an incomplete token dump"), std::string::npos) << message;
  EXPECT_NE(message.find("re-run the same 'wm tokens dump' to finish it"), std::string::npos) << message;
  test::TempDir empty;
  EXPECT_NE(test::error_of([&] { read_token_manifest(empty.path()); }).find("is not a token dump"), std::string::npos);
}

TEST(TokenShardSource, ADamagedShardIsRefusedAtLoadNamingIt) {
  // Issue 16: float tokens, ids beyond the vocabulary and NaN rewards were trained on silently.
  auto dump = [](const std::filesystem::path& root) {
    TokenShard a = shard("a.mp4", 4, "h1");
    a.actions = torch::zeros({4}, torch::kInt64);
    a.rewards = torch::zeros({4});
    a.dones = torch::zeros({4}, torch::kUInt8);
    write_token_shard(root, a);
    rebuild_token_manifest(root, identity("h1"));
  };
  {
    test::TempDir dir;
    dump(dir.path());
    EXPECT_NO_THROW(TokenShardSource{dir.path()});
    core::write_npy(dir / "a.mp4" / "tokens.npy", torch::full({4, 2, 3}, 20, torch::kInt16));  // ids >= 16, CRC changed
    const std::string message = test::error_of([&] { TokenShardSource source(dir.path()); });
    EXPECT_NE(message.find((dir / "a.mp4" / "tokens.npy").string() + ": CRC-32C differs from the manifest's"), std::string::npos) << message;
  }
  {
    test::TempDir dir;
    dump(dir.path());
    core::write_npy(dir / "a.mp4" / "rewards.npy", torch::tensor({0.f, 1.f, NAN, 0.f}));
    const std::string message = test::error_of([&] { TokenShardSource source(dir.path()); });
    EXPECT_NE(message.find((dir / "a.mp4" / "rewards.npy").string() + " holds a NaN or infinite value in row 2"), std::string::npos) << message;
  }
  {
    test::TempDir dir;
    dump(dir.path());
    TokenManifest manifest = read_token_manifest(dir.path());
    core::write_npy(dir / "a.mp4" / "tokens.npy", torch::zeros({4, 2, 3}, torch::kFloat32));  // float tokens
    const std::string message = test::error_of([&] { TokenShardSource source(dir.path()); });
    EXPECT_NE(message.find("tokens.npy"), std::string::npos) << message;
  }
}

TEST(TokenShardSource, ServesShardsAsEpisodesOfTokenGrids) {
  test::TempDir dir;
  TokenShard a = shard("a.mp4", 5, "h1"), b = shard("b.mp4", 3, "h1");
  a.actions = torch::tensor({0, 3, 1, 2, 0}, torch::kInt64);
  a.rewards = torch::arange(5).to(torch::kFloat32);
  a.dones = torch::zeros({5}, torch::kUInt8);
  write_token_shard(dir.path(), a);
  write_token_shard(dir.path(), b);  // no actions: served as action 0
  rebuild_token_manifest(dir.path(), identity("h1"));
  EXPECT_TRUE(is_token_dump(dir.path()));

  TokenShardSource source(dir.path());
  ASSERT_EQ(source.num_episodes(), 2);
  EXPECT_EQ(source.episode_length(0), 5);
  EXPECT_EQ(source.observation_shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(source.observation_dtype(), at::kShort);
  EXPECT_EQ(source.action_dim(), 0);
  EXPECT_EQ(source.discrete_action_count(), 4);

  WindowBatch batch{torch::zeros({2, 3, 2, 3}, torch::kShort), torch::full({2, 3}, 7, torch::kInt64), torch::zeros({2, 3}),
                    torch::zeros({2, 3}, torch::kUInt8), torch::ones({2, 3}, torch::kBool)};
  source.read_steps(0, 2, 3, batch, 0, 0);
  source.read_steps(1, 0, 3, batch, 1, 0);
  EXPECT_TRUE(torch::equal(batch.observations[0], a.tokens.narrow(0, 2, 3).to(torch::kShort)));
  EXPECT_TRUE(torch::equal(batch.actions[0], torch::tensor({1, 2, 0}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(batch.rewards[0], torch::tensor({2.0f, 3.0f, 4.0f})));
  EXPECT_TRUE(torch::equal(batch.actions[1], torch::zeros({3}, torch::kInt64)));
}

}  // namespace
}  // namespace wm::dataloader
