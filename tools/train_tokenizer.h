// wm train tokenizer --config C [--resume | --overwrite]: trains the VQ tokenizer on frames of an episode
// store or a video dataset, with held-out evaluation, metrics and checkpoints.
#pragma once

#include <string>
#include <vector>

#include "core/phase_start.h"

namespace wm::tools {

void train_tokenizer(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start);

}  // namespace wm::tools
