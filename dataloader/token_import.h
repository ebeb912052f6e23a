// The pipeline behind `wm tokens import`: token arrays made by another tokenizer (commaVQ's
// published segments, say: int16 [T, 128] or [T, 8, 16], a 1024-code vocabulary, no actions)
// become a wm token dump (dataloader/token_shards.h) that `wm train dynamics` reads directly.
//
// Each input is a .npy file of integer token ids, [T, h * w] or [T, h, w], or a folder searched
// for them. Beside a token file X.npy, optional sidecars of T rows each:
//   X.actions.npy  int [T] (discrete) or float32 [T, A] (continuous)
//   X.rewards.npy  float32 [T]
//   X.dones.npy    [T] of 0/1
// With any of them the shard has actions (zeros, rewards 0 and no episode end where absent).
// Every value is checked: ids inside the vocabulary, actions non-negative integers or finite
// numbers, rewards finite, dones 0 or 1, lengths equal; a file that fails is reported with the
// reason and skipped, the others are written. The shards record a tokenizer identity made
// from the grid and vocabulary ("imported-8x16-v1024"), so imports of the same kind of tokens
// share a folder and re-running an import skips what is done.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "dataloader/token_shards.h"

namespace wm::dataloader {

struct TokenImportOptions {
  int64_t grid_height = 0, grid_width = 0;  // the tokens' grid: K = h * w per frame
  int64_t vocab_size = 0;                   // ids are 0 .. vocab_size - 1 (at most 32768: stored as int16)
  double fps = 0;                           // recorded in each shard's meta (0: unknown)
  bool force = false;                       // re-import files already imported
};

struct TokenImportResult {
  int64_t files = 0;          // token files found under the inputs
  int64_t written = 0;        // shards written by this run
  int64_t already_done = 0;   // skipped: imported before with the same grid and vocabulary
  int64_t frames = 0;         // frames imported by this run
  std::vector<std::string> failures;  // "file: reason", one per file that was skipped
  TokenManifest manifest;             // as rewritten at the end
};

// The identity every imported shard of this grid and vocabulary records.
TokenizerIdentity imported_identity(const TokenImportOptions& options);

// Imports every token file under `inputs` into `out`. Bad options (a grid or vocabulary that
// cannot be) stop it with a wm::core::Error before anything is written.
TokenImportResult import_tokens(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out,
                                const TokenImportOptions& options);

}  // namespace wm::dataloader
