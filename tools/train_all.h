// wm train all --config C: the whole loop, IRIS's schedule. Each epoch collects real
// experience with the current agent (loop.first_agent until a policy has trained), trains the
// tokenizer, the dynamics model (on frames tokenized by the current tokenizer) and the
// policy (in imagination) for their steps of the epoch, and evaluates the policy in the real
// environment. Each phase checkpoints when it ends; <run>/loop_state.json records the phases
// done, so the same command after a kill resumes where it stopped. At the end: a table of
// the policy against random (and the driving game's expert) in the real environment.
#pragma once

#include <string>
#include <vector>

namespace wm::tools {

void train_all(const std::string& config_file, const std::vector<std::string>& overrides);

}  // namespace wm::tools
