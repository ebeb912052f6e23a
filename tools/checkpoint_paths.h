// Where commands find a checkpoint the user names: a file, or a run folder (its newest
// valid checkpoint of that kind).
#pragma once

#include <filesystem>
#include <string>

namespace wm::tools {

// `kind` is "tokenizer", "dynamics", ...; throws wm::core::Error when a folder holds none.
std::filesystem::path resolve_checkpoint(const std::string& given, const std::string& kind);

}  // namespace wm::tools
