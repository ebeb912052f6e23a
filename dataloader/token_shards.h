// Token shards, the output of `wm tokens dump` and the input of the dynamics trainer:
//
//   <dir>/manifest.json     {"format": "wm-tokens-1", "tokenizer": {"checkpoint", "hash",
//                            "grid": [h, w], "vocab_size", "frame": [H, W]},
//                            "frames": N, "shards": [{"name", "source", "frames",
//                            "tokens_crc32c", "actions"}...]}
//   <dir>/<name>/tokens.npy   int16 [T, h, w]
//   <dir>/<name>/actions.npy  int64 [T] or float32 [T, A]; rewards.npy float32 [T];
//                             dones.npy uint8 [T] (when the source has them)
//   <dir>/<name>/meta.json    source path, frames, fps, source frame size, tokenizer hash
//
// A shard is written into <name>.tmp/ and renamed when complete; the manifest is rebuilt
// from the complete shards' meta.json, so it never lists a shard that is not there.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace wm::dataloader {

constexpr const char* kTokenShardsFormat = "wm-tokens-1";

// What the tokens were made with; every shard of a directory shares it.
struct TokenizerIdentity {
  std::string checkpoint;  // path it was loaded from (informative)
  std::string hash;        // content hash of the weights: decides whether a shard is current
  int64_t grid_height = 0, grid_width = 0, vocab_size = 0;
  int64_t frame_height = 0, frame_width = 0;
};

struct ShardMeta {
  std::string name;      // directory under the dump root
  std::string source;    // video file, image folder, or store episode ("STORE/ep_000003")
  int64_t frames = 0;
  double fps = 0;        // 0 when unknown (episode stores)
  int64_t source_height = 0, source_width = 0;
  std::string tokenizer_hash;
  bool has_actions = false;
  uint32_t tokens_crc32c = 0;  // of tokens.npy's bytes, checked by `wm tokens info`
};

struct TokenShard {
  ShardMeta meta;
  at::Tensor tokens;   // int16 [T, h, w]
  at::Tensor actions;  // int64 [T] / float32 [T, A]; undefined when the source has none
  at::Tensor rewards;  // float32 [T]; undefined with no actions
  at::Tensor dones;    // uint8 [T]; undefined with no actions
};

// Writes <root>/<meta.name>/ atomically (tmp folder, fsync, rename); fills tokens_crc32c.
void write_token_shard(const std::filesystem::path& root, TokenShard& shard);

// The meta.json of a complete shard, or nothing when <root>/<name> is not one.
std::optional<ShardMeta> read_shard_meta(const std::filesystem::path& shard_dir);

// Removes <name>.tmp folders a killed run left behind; returns how many.
int remove_partial_shards(const std::filesystem::path& root);

struct TokenManifest {
  TokenizerIdentity tokenizer;
  std::vector<ShardMeta> shards;  // sorted by name
  int64_t frames() const;
};

// Lists every complete shard under `root` whose tokenizer hash is `tokenizer.hash` and
// writes manifest.json atomically. Rebuilds are serialized by a lock on <root>/.manifest.lock:
// the ranks of a launched dump each rebuild when their share is done, and the last one lists
// every rank's shards.
TokenManifest rebuild_token_manifest(const std::filesystem::path& root, const TokenizerIdentity& tokenizer);
TokenManifest read_token_manifest(const std::filesystem::path& root);
// Whether `root` holds a token dump (a manifest.json of this format).
bool is_token_dump(const std::filesystem::path& root);

// Checks one shard against its manifest entry: files present, tokens.npy int16 [frames, h,
// w] with the manifest's grid, CRC-32C equal, ids below the vocabulary, actions as long as
// the tokens. Returns "" when sound, else what is wrong.
std::string verify_token_shard(const std::filesystem::path& root, const TokenManifest& manifest, const ShardMeta& shard);

// A filesystem-safe shard name for `source` found under `input` ("a/b.mp4" -> "a__b.mp4").
std::string shard_name(const std::filesystem::path& input, const std::filesystem::path& source);

}  // namespace wm::dataloader
