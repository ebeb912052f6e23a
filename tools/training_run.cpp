#include "tools/training_run.h"

#include <spdlog/spdlog.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/torch.h>

#include "core/device.h"
#include "core/error.h"
#include "core/logging.h"
#include "dist/data_parallel.h"
#include "dist/group_ranks.h"
#include "dist/worker_env.h"

namespace wm::tools {

c10::Device training_device(const WmConfig& config) {
  const c10::Device device = core::resolve_device(config.run.device);
  const dist::WorkerEnv env = dist::worker_env();
  if (!env.distributed() || !device.is_cuda()) return device;
  if (config.run.device != "auto" && config.run.device != "cuda") {
    // NCCL refuses two ranks on one GPU.
    if (env.local_world_size > 1) {
      throw core::Error("run.device = '" + config.run.device + "' names one GPU for " + std::to_string(env.local_world_size) +
                        " ranks on this node: use run.device=cuda (each rank takes cuda:<LOCAL_RANK>)");
    }
    return device;
  }
  // One GPU per local rank, as torchrun users expect; made the current device, so that what
  // is not placed explicitly (NCCL's own buffers) lands there and not on GPU 0.
  const c10::Device mine = core::resolve_device("cuda:" + std::to_string(env.local_rank));
  c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(mine);
  return mine;
}

core::RunContext open_training_run(const WmConfig& config, const std::string& config_yaml) {
  const dist::WorkerEnv env = dist::worker_env();
  std::shared_ptr<core::Ranks> ranks;  // none: a job of one process
  if (env.distributed()) {
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(config.dist.timeout_s * 1000));
    std::shared_ptr<dist::ProcessGroup> group = dist::ProcessGroup::connect(env, training_device(config), timeout);
    dist::check_same_config(*group, config_yaml);
    ranks = std::make_shared<dist::GroupRanks>(group, static_cast<int64_t>(config.dist.bucket_mb * (1 << 20)));
  }
  core::RunContext run(config.run, config.log, config.checkpoint, config_yaml, ranks);
  core::init_logging(config.log, run.dir().logs(), run.rank());
  core::configure_threads(config.run.threads, env.local_world_size);
  torch::manual_seed(static_cast<uint64_t>(config.run.seed));
  core::diverge_random_stream(run.ranks(), static_cast<uint64_t>(config.run.seed), 0);
  if (env.distributed()) {
    spdlog::info("rank {} of {} (local rank {} of {}, node {}; started by {}), c10d store at {}:{}", env.rank, env.world_size, env.local_rank,
                 env.local_world_size, env.group_rank, env.launcher, env.master_addr, env.master_port);
  }
  return run;
}

void require_one_process(const core::RunContext& run, const std::string& command) {
  if (run.ranks().world_size() == 1) return;
  throw core::Error(command + " runs as one process: it was started as rank " + std::to_string(run.rank()) + " of " +
                    std::to_string(run.ranks().world_size()) + " (wm train tokenizer, dynamics and policy are data-parallel)");
}

std::unique_ptr<dataloader::PrefetchingSampler> phase_batches(const core::RunContext& run,
                                                              std::shared_ptr<const dataloader::WindowSource> source,
                                                              dataloader::WindowSamplerOptions sampling, int64_t step, int depth) {
  sampling.first_batch = step;
  sampling.rank = run.rank();
  sampling.ranks = run.ranks().world_size();
  return std::make_unique<dataloader::PrefetchingSampler>(dataloader::WindowSampler(std::move(source), sampling), depth);
}

}  // namespace wm::tools
