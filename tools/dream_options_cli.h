// The options `wm dream` and `wm bench dream` share, on a CLI11 command.
#pragma once

#include "tools/dream_rollout.h"

namespace CLI {
class App;
}

namespace wm::tools {

void add_dream_options(CLI::App& command, DreamOptions& options, double& fps);

}  // namespace wm::tools
