// `wm tokens dump / info / decode` as a user runs them, on real video files and an episode
// store, with a small tokenizer checkpoint.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/checkpoint.h"
#include "core/npy.h"
#include "dataloader/episode_store.h"
#include "dataloader/frame_source.h"
#include "dataloader/token_shards.h"
#include "dataloader/video_test_support.h"
#include "test_support.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tokenizer/tokenizer_test_support.h"

namespace wm {
namespace {

// A 32x32 -> 8x8 tokenizer of 256 codes (untrained: the tokens need not be meaningful,
// only the tokenizer's own).
std::filesystem::path write_tokenizer(const std::filesystem::path& dir) {
  torch::manual_seed(5);
  tokenizer::VQModel model(tokenizer::small_options());
  core::CheckpointWriter writer;
  tokenizer::add_tokenizer(writer, model);
  writer.save(dir / "tok.ckpt");
  return dir / "tok.ckpt";
}

void write_actions_csv(const std::filesystem::path& path, int frames) {
  std::string csv = "frame,steer,gas\n";
  for (int i = 0; i < frames; ++i) csv += std::to_string(i) + "," + std::to_string(0.1 * i) + ",1\n";
  test::write_text(path, csv);
}

// data/a.mp4 (+ a.csv), data/sub/b.mkv, data/store/ (2 episodes of 32x32 frames).
void write_dataset(const std::filesystem::path& data) {
  test::write_video(data / "a.mp4", test::synthetic_frames(20, 48, 64), {.quality = 0});
  write_actions_csv(data / "a.csv", 20);
  test::write_video(data / "sub" / "b.mkv", test::synthetic_frames(13, 32, 32), {.quality = 0});
  dataloader::EpisodeStore store(data / "store", dataloader::EpisodeStore::Mode::kAppend);
  for (int e = 0; e < 2; ++e) {
    dataloader::Episode episode;
    episode.frames = tokenizer::driving_frames(7 + e, 32, 32, 2);
    episode.actions = torch::full({7 + e}, e, torch::kInt64);
    episode.rewards = torch::zeros({7 + e});
    episode.dones = torch::zeros({7 + e}, torch::kUInt8);
    store.append(episode);
  }
}

nlohmann::json read_json(const std::filesystem::path& path) { return nlohmann::json::parse(test::read_bytes(path)); }

std::string dump_command(const std::filesystem::path& tok, const std::filesystem::path& out, const std::string& inputs) {
  return test::wm_binary() + " tokens dump --tokenizer " + tok.string() + " --out " + out.string() + " " + inputs + " run.device=cpu";
}

TEST(TokensDump, ShardsHoldTheTokenizersTokensAndLoadWithNumpy) {
  test::TempDir dir;
  const auto tok = write_tokenizer(dir.path());
  write_dataset(dir / "data");
  const auto out = dir / "tokens";
  const auto r = test::run_command(dump_command(tok, out, (dir / "data").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const auto manifest = read_json(out / "manifest.json");
  EXPECT_EQ(manifest["format"], "wm-tokens-1");
  EXPECT_EQ(manifest["tokenizer"]["grid"], nlohmann::json::array({8, 8}));
  EXPECT_EQ(manifest["tokenizer"]["vocab_size"], 256);
  EXPECT_EQ(manifest["frames"], 20 + 13 + 7 + 8);
  std::vector<std::string> names;
  for (const auto& s : manifest["shards"]) names.push_back(s["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"a.mp4", "store__ep_000000", "store__ep_000001", "sub__b.mkv"}));

  // numpy reads the shards: int16 [T, 8, 8].
  const auto numpy = test::run_command(test::venv_python() + " tests/python/npy_check.py read " + (out / "a.mp4" / "tokens.npy").string());
  ASSERT_EQ(numpy.exit_code, 0) << numpy.err;
  const auto array = nlohmann::json::parse(numpy.out);
  EXPECT_EQ(array["dtype"], "int16");
  EXPECT_EQ(array["shape"], nlohmann::json::array({20, 8, 8}));

  // The tokens are what encode() gives on the same frames, read the same way.
  const auto loaded = tokenizer::load_tokenizer(tok, c10::Device(c10::kCPU));
  tokenizer::VQModel model = loaded.model;
  const auto reader = dataloader::open_frame_source(dir / "data" / "a.mp4", {.height = 32, .width = 32});
  const at::Tensor expected = model->encode(dataloader::read_frames(*reader));
  EXPECT_TRUE(torch::equal(core::read_npy(out / "a.mp4" / "tokens.npy").to(torch::kInt64), expected));
  dataloader::EpisodeStore store(dir / "data" / "store", dataloader::EpisodeStore::Mode::kRead);
  EXPECT_TRUE(torch::equal(core::read_npy(out / "store__ep_000001" / "tokens.npy").to(torch::kInt64),
                           model->encode(store.load(1).frames)));

  // Actions travel with their frames: the sidecar's for a.mp4, the store's for episodes;
  // b.mkv has none.
  const at::Tensor actions = core::read_npy(out / "a.mp4" / "actions.npy");
  EXPECT_EQ(actions.sizes(), (std::vector<int64_t>{20, 2}));
  EXPECT_NEAR(actions[19][0].item<float>(), 1.9f, 1e-5);
  EXPECT_TRUE(torch::equal(core::read_npy(out / "store__ep_000001" / "actions.npy"), torch::ones({8}, torch::kInt64)));
  EXPECT_FALSE(std::filesystem::exists(out / "sub__b.mkv" / "actions.npy"));

  const auto meta = read_json(out / "a.mp4" / "meta.json");
  EXPECT_EQ(meta["tokenizer_hash"], loaded.content_hash);
  EXPECT_EQ(meta["source_frame"], nlohmann::json::array({48, 64}));
  EXPECT_EQ(meta["frames"], 20);

  // info: counts and a clean integrity check.
  const auto info = test::run_command(test::wm_binary() + " tokens info " + out.string() + " --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto stats = nlohmann::json::parse(info.out);
  EXPECT_EQ(stats["tokens"], 48 * 64);
  EXPECT_EQ(stats["sound_shards"], 4);
  EXPECT_GT(stats["codes_used"].get<int>(), 0);
  EXPECT_LE(stats["entropy_bits"].get<double>(), 8.0);  // log2(256)

  // decode: a shard back to video, one frame per token grid.
  const auto decoded = test::run_command(test::wm_binary() + " tokens decode " + (out / "sub__b.mkv").string() + " --tokenizer " +
                                         tok.string() + " --out " + (dir / "b.mp4").string() + " --device cpu");
  ASSERT_EQ(decoded.exit_code, 0) << decoded.err;
  EXPECT_EQ(dataloader::open_frame_source(dir / "b.mp4", {})->info().frames, 13);
}

TEST(TokensDump, ACorruptSourceIsSkippedAndTheRunFailsAtTheEnd) {
  test::TempDir dir;
  const auto tok = write_tokenizer(dir.path());
  write_dataset(dir / "data");
  test::write_text(dir / "data" / "broken.mp4", "not a video");
  const auto out = dir / "tokens";
  const auto r = test::run_command(dump_command(tok, out, (dir / "data").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("1 of 5 source(s) failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("broken.mp4"), std::string::npos) << r.err;
  EXPECT_EQ(read_json(out / "manifest.json")["shards"].size(), 4u);  // the others completed
  EXPECT_FALSE(std::filesystem::exists(out / "broken.mp4"));
}

// Under a launcher each rank takes every other source, and the manifest the last rank writes
// lists them all: the same shards as one process's dump.
TEST(TokensDump, TwoRanksUnderWmrunSplitTheSourcesAndTheManifestListsThemAll) {
  test::TempDir dir;
  const auto tok = write_tokenizer(dir.path());
  write_dataset(dir / "data");
  ASSERT_EQ(test::run_command(dump_command(tok, dir / "one", (dir / "data").string())).exit_code, 0);
  const std::string wmrun = (std::filesystem::path(test::wm_binary()).parent_path() / "wmrun").string();
  const auto r = test::run_command(wmrun + " --standalone --nproc-per-node 2 --log-dir " + (dir / "logs").string() + " -- " +
                                   dump_command(tok, dir / "two", (dir / "data").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[rank 0] "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tokenizing 2 source(s)"), std::string::npos) << "rank 0's half of the 4 sources: " << r.err;
  const nlohmann::json one = read_json(dir / "one" / "manifest.json"), two = read_json(dir / "two" / "manifest.json");
  ASSERT_EQ(two["shards"].size(), 4u) << two.dump();
  EXPECT_EQ(two["shards"], one["shards"]) << "the same shards, tokens and all (tokens_crc32c)";
  EXPECT_EQ(two["frames"], one["frames"]);
}

TEST(TokensDump, ASecondRunSkipsWhatIsDoneAndForceRedoesIt) {
  test::TempDir dir;
  const auto tok = write_tokenizer(dir.path());
  write_dataset(dir / "data");
  const auto out = dir / "tokens";
  ASSERT_EQ(test::run_command(dump_command(tok, out, (dir / "data").string())).exit_code, 0);
  const auto written = std::filesystem::last_write_time(out / "a.mp4" / "tokens.npy");

  const auto again = test::run_command(dump_command(tok, out, (dir / "data").string()));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("wrote 0 shard(s), 0 frames"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("4 already done"), std::string::npos) << again.err;
  EXPECT_EQ(std::filesystem::last_write_time(out / "a.mp4" / "tokens.npy"), written);

  const auto forced = test::run_command(dump_command(tok, out, (dir / "data").string() + " --force"));
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.err.find("wrote 4 shard(s), 48 frames"), std::string::npos) << forced.err;
}

TEST(TokensDump, AKilledRunLeavesOnlyCompleteShardsAndARerunFinishes) {
  test::TempDir dir;
  const auto tok = write_tokenizer(dir.path());
  const at::Tensor frames = test::synthetic_frames(60, 32, 32);
  for (int i = 0; i < 12; ++i) test::write_video(dir / "data" / ("v" + std::to_string(10 + i) + ".mp4"), frames, {.quality = 0});
  const auto out = dir / "tokens";

  // One frame per encode call and one decoder: slow enough to be killed part-way.
  const std::string command = dump_command(tok, out, (dir / "data").string() + " --batch 1 --decode-threads 1");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + command + " 2>/dev/null").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!std::filesystem::exists(out / "v10.mp4" / "meta.json") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the dump finished before it could be killed";

  // Every shard folder visible is complete; the rest are missing, not half-written.
  int complete = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    if (!entry.is_directory() || entry.path().extension() == ".tmp") continue;
    ASSERT_TRUE(std::filesystem::exists(entry.path() / "meta.json")) << entry.path();
    EXPECT_EQ(core::read_npy_header(entry.path() / "tokens.npy").shape, (std::vector<int64_t>{60, 8, 8})) << entry.path();
    ++complete;
  }
  EXPECT_GE(complete, 1);
  EXPECT_LT(complete, 12);

  const auto rerun = test::run_command(dump_command(tok, out, (dir / "data").string()));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_NE(rerun.err.find(std::to_string(complete) + " already done"), std::string::npos) << rerun.err;
  const auto info = test::run_command(test::wm_binary() + " tokens info " + out.string());
  ASSERT_EQ(info.exit_code, 0) << info.out << info.err;
  EXPECT_NE(info.out.find("12 of 12 shards sound"), std::string::npos) << info.out;
  for (const auto& entry : std::filesystem::directory_iterator(out)) EXPECT_NE(entry.path().extension(), ".tmp");
}

TEST(TokensDump, ATokenizerThatDoesNotLoadStopsBeforeAnyWork) {
  test::TempDir dir;
  write_dataset(dir / "data");
  test::write_text(dir / "bad.ckpt", "not a checkpoint");
  const auto r = test::run_command(dump_command(dir / "bad.ckpt", dir / "tokens", (dir / "data").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.ckpt"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "tokens"));
}

// A write that fails (here the file-size limit; a full disk takes the same path) stops the
// run with one line naming the shard, and leaves no partial shard behind.
TEST(TokensDump, AWriteErrorStopsTheRunAndLeavesNoPartialShard) {
  test::TempDir dir;
  const auto tok = write_tokenizer(dir.path());
  write_dataset(dir / "data");
  const auto out = dir / "tokens";
  const auto r = test::run_command("trap '' XFSZ; ulimit -f 2; exec " + dump_command(tok, out, (dir / "data").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("wm: error: writing shard"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("File too large"), std::string::npos) << r.err;
  // Shards small enough for the limit (a 7-frame episode: 1024 bytes) may be complete; the
  // one that failed is absent, and no NAME.tmp folder is left.
  EXPECT_FALSE(std::filesystem::exists(out / "a.mp4"));
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    if (!entry.is_directory()) continue;
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
    EXPECT_TRUE(dataloader::read_shard_meta(entry.path())) << entry.path();
  }
}

TEST(TokensInfo, ACorruptedShardFailsTheIntegrityCheckNamingIt) {
  test::TempDir dir;
  const auto tok = write_tokenizer(dir.path());
  write_dataset(dir / "data");
  const auto out = dir / "tokens";
  ASSERT_EQ(test::run_command(dump_command(tok, out, (dir / "data").string())).exit_code, 0);
  // Flip one token byte: the file still parses, only its checksum tells.
  std::string bytes = test::read_bytes(out / "sub__b.mkv" / "tokens.npy");
  bytes[bytes.size() - 1] ^= 1;
  test::write_text(out / "sub__b.mkv" / "tokens.npy", bytes);
  std::filesystem::remove(out / "store__ep_000000" / "tokens.npy");

  const auto r = test::run_command(test::wm_binary() + " tokens info " + out.string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("2 of 4 shards sound"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sub__b.mkv/tokens.npy: CRC-32C differs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("store__ep_000000/tokens.npy is missing"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("2 of 4 shards failed the integrity check"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wm
