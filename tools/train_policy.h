// wm train policy --config C [--resume]: trains the actor-critic inside the frozen world
// model (imagination only), starting its dreams from real windows of the run's data, and
// evaluates it in the real environment every eval_every steps.
#pragma once

#include <string>
#include <vector>

namespace wm::tools {

void train_policy(const std::string& config_file, const std::vector<std::string>& overrides, bool resume);

}  // namespace wm::tools
