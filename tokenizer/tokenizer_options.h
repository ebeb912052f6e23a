// Hyperparameters of the VQ tokenizer (the `tokenizer:` config section). Stored in every
// tokenizer checkpoint, so a model can be rebuilt from the checkpoint alone.
#pragma once

#include <cstdint>
#include <vector>

#include "core/config_schema.h"

namespace wm::tokenizer {

struct TokenizerOptions {
  int height = 64;                // frame size the tokenizer reads
  int width = 64;
  int downsample = 8;             // 64x64 -> 8x8 = 64 tokens per frame (IRIS: 16 at 64x64 -> 4x4)
  int64_t vocab_size = 1024;      // codebook entries
  int64_t code_dim = 32;          // low-dimensional lookup space (improved VQGAN: factorized codes)
  int64_t base_channels = 32;     // channels at full resolution; doubled as the grid shrinks
  std::vector<int64_t> channel_mult = {1, 2, 2, 4};  // per level; len = log2(downsample) + 1
  int64_t res_blocks = 1;         // residual blocks per level
  bool attention = true;          // self-attention at the bottleneck (8x8 = 64 positions: cheap)
  double ema_decay = 0.99;        // codebook EMA
  double commitment_weight = 0.25;
  int64_t restart_every = 100;    // steps between dead-code checks

  int64_t grid_height() const { return height / downsample; }
  int64_t grid_width() const { return width / downsample; }
  int64_t tokens_per_frame() const { return grid_height() * grid_width(); }
  // Throws wm::core::Error naming the value when the options cannot build a model.
  void validate() const;
};

void describe(core::ConfigSchema& schema, TokenizerOptions& tokenizer);

}  // namespace wm::tokenizer
