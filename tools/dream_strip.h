// A strip of real and dreamed frames (runs/<name>/dreams/strip.png): the top row is a real
// window of the data, the bottom row the world model's dream from the same first frames,
// driven by the same recorded actions, both decoded by the tokenizer — the quickest look at
// what the model has learned. (The dream visualizer, `wm dream`, goes further.)
#pragma once

#include <filesystem>

#include "dynamics/world_model.h"
#include "tokenizer/vq_model.h"

namespace wm::tools {

// `window`: one window (batch 1) of L steps of tokens with their actions, all real;
// `context`: how many of its frames prime the dream (1 <= context < L).
void write_dream_strip(const std::filesystem::path& png, const dynamics::WorldModel& world, tokenizer::VQModel& tokenizer,
                       const dynamics::DynamicsBatch& window, int64_t context);

}  // namespace wm::tools
