#include "tools/training_run.h"

#include <torch/torch.h>

#include "core/logging.h"

namespace wm::tools {

core::RunContext open_training_run(const WmConfig& config, const std::string& config_yaml) {
  core::RunContext run(config.run, config.log, config.checkpoint, config_yaml);
  core::init_logging(config.log, run.dir().logs(), run.rank());
  core::configure_threads(config.run.threads, /*local_world_size=*/1);
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));
  return run;
}

}  // namespace wm::tools
