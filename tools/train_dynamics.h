// wm train dynamics --config C [--resume | --overwrite]: trains the world model on token shards (wm tokens
// dump) or on frames tokenized on the fly by a frozen tokenizer, with held-out evaluation
// against the unigram and copy-the-previous-frame baselines, metrics and checkpoints.
#pragma once

#include <string>
#include <vector>

#include "core/phase_start.h"

namespace wm::tools {

void train_dynamics(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start);

}  // namespace wm::tools
