// wm train modelfree: the world model's yardstick — the same actor-critic trained on the real
// environment only (A2C, policy/model_free_trainer.h), reading the real frames' pixels, for
// model_free.real_steps steps; evaluated in the real environment like the dreaming policy.
#pragma once

#include <string>
#include <vector>

#include "core/phase_start.h"

namespace wm::tools {

void train_model_free(const std::string& config_file, const std::vector<std::string>& overrides, core::PhaseStart start);

}  // namespace wm::tools
