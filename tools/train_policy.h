// wm train policy --config C [--resume | --overwrite]: trains the actor-critic inside the frozen world
// model (imagination only), starting its dreams from real windows of the run's data, and
// evaluates it in the real environment every eval_every steps.
#pragma once

#include <string>
#include <vector>

#include "core/phase_start.h"

namespace wm::tools {

void train_policy(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start);

}  // namespace wm::tools
