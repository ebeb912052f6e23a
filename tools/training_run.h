// What every training command does first, from its resolved config: the run folder with its
// metrics and checkpoints (core/train_loop.h), logging into it, the thread count and the seed.
#pragma once

#include <string>

#include "core/train_loop.h"
#include "tools/wm_config.h"

namespace wm::tools {

core::RunContext open_training_run(const WmConfig& config, const std::string& config_yaml);

}  // namespace wm::tools
