#include "tools/training_run.h"

#include <torch/torch.h>

#include "core/error.h"
#include "core/logging.h"
#include "dist/worker_env.h"

namespace wm::tools {

core::RunContext open_training_run(const WmConfig& config, const std::string& config_yaml) {
  // Every process of a launched job would train alone and write the same run folder.
  if (const dist::WorkerEnv env = dist::worker_env(); env.distributed() && env.launcher == "torchrun") {
    throw core::Error("wm train was started as rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + " (by " + env.launcher +
                      "): data-parallel training is not wired into wm train yet; run it as one process");
  }
  core::RunContext run(config.run, config.log, config.checkpoint, config_yaml);
  core::init_logging(config.log, run.dir().logs(), run.rank());
  core::configure_threads(config.run.threads, /*local_world_size=*/1);
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));
  return run;
}

}  // namespace wm::tools
