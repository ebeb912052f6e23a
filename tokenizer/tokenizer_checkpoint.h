// Tokenizer checkpoints: the model with its options, so `wm tokens dump` and the dynamics
// trainer rebuild it from the file alone.
#pragma once

#include <c10/core/Device.h>

#include <filesystem>
#include <string>

#include "core/checkpoint.h"
#include "tokenizer/vq_model.h"

namespace wm::tokenizer {

constexpr const char* kTokenizerModule = "tokenizer";

// Adds the model and its options (as YAML) to a checkpoint being written.
void add_tokenizer(core::CheckpointWriter& writer, VQModel& model);

// The options a checkpoint's tokenizer was built with.
TokenizerOptions tokenizer_options_of(const core::Checkpoint& checkpoint);

struct LoadedTokenizer {
  VQModel model{nullptr};
  std::string content_hash;  // identifies the weights (token shards record it)
};

// Loads a tokenizer checkpoint onto `device`, in eval mode. A file that is not a valid
// tokenizer checkpoint is a wm::core::Error naming it.
LoadedTokenizer load_tokenizer(const std::filesystem::path& path, c10::Device device);

}  // namespace wm::tokenizer
