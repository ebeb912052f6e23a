// Small tokenizer configurations and real frames for the tokenizer tests.
#pragma once

#include <torch/types.h>

#include "tokenizer/tokenizer_options.h"

namespace wm::tokenizer {

// 32x32 -> 8x8 tokens from 256 codes, 16 channels: trains in seconds on a CPU.
TokenizerOptions small_options(int height = 32, int width = 32);

// `count` frames of the driving game (the expert driving), `every` steps apart.
torch::Tensor driving_frames(int64_t count, int height, int width, int64_t every = 7);

}  // namespace wm::tokenizer
