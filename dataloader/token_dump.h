// The pipeline behind `wm tokens dump`: sources (video files, image folders, episode-store
// episodes) -> decoder threads (decode + resize to the tokenizer's frame size) -> a bounded
// queue of frame batches -> the encoder (the caller's tokenizer, on its device) -> a bounded
// queue of finished shards -> a writer thread. Both queues are bounded, so memory stays flat
// however large the dataset; the encoder never waits on disk and the decoders never wait on
// the encoder unless it is the bottleneck.
//
// The tokenizer comes in as a function, so this library needs no model code.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "dataloader/token_shards.h"
#include "dataloader/video_dataset.h"

namespace wm::dataloader {

struct TokenDumpOptions {
  VideoDatasetOptions video;       // glob, fps, crop, sidecar columns; the size is the tokenizer's
  int64_t batch = 16;              // frames per encode call (see auto_dump_batch)
  int decode_threads = 2;          // sources decoded at once
  int64_t queued_batches = 8;      // decoded batches waiting for the encoder, at most
  bool force = false;              // redo shards already done with this tokenizer
  int rank = 0, world_size = 1;    // under the launcher: this rank takes sources rank, rank+W, ...
};

// Frames per encode call when the user does not say: on a CPU, small batches keep the
// encoder's activations in cache (64x64 default tokenizer, 2 cores: 836 frames/s at 16, 588
// at 32, 418 at 128); a GPU wants large ones.
inline int64_t auto_dump_batch(bool gpu) { return gpu ? 256 : 16; }

// uint8 frames [B, H, W, 3] -> integer tokens [B, h, w] (on any device).
using FrameEncoder = std::function<at::Tensor(const at::Tensor& frames)>;

struct TokenDumpResult {
  int64_t sources = 0;        // found under the inputs (this rank's share)
  int64_t written = 0;        // shards written by this run
  int64_t already_done = 0;   // skipped: done before with the same tokenizer
  int64_t frames = 0;         // frames encoded by this run
  double seconds = 0;
  std::vector<std::string> failures;  // "source: reason", one per source that failed
  TokenManifest manifest;             // as rewritten at the end
};

// Tokenizes every source under `inputs` into shards under `out`. A source that cannot be
// read is reported and skipped; the others complete. Errors that concern the whole run (the
// output folder, a full disk) stop it with a wm::core::Error, leaving complete shards only.
TokenDumpResult dump_tokens(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out,
                            const TokenizerIdentity& tokenizer, const FrameEncoder& encode, const TokenDumpOptions& options);

}  // namespace wm::dataloader
