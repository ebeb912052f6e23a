// What every training command does first, from its resolved config: the run folder with its
// metrics and checkpoints (core/train_loop.h), logging into it, the thread count and the seed;
// and, when a launcher (wmrun, torchrun, srun, mpirun) started several processes, the job's
// process group (Gloo on CPU, NCCL on CUDA), checked to run one config.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "core/train_loop.h"
#include "dataloader/window_sampler.h"
#include "tools/wm_config.h"

namespace wm::tools {

// The device this process trains on: run.device, with "auto" and "cuda" meaning the GPU of its
// local rank when a launcher started several processes on the node.
c10::Device training_device(const WmConfig& config);

core::RunContext open_training_run(const WmConfig& config, const std::string& config_yaml);

// Throws wm::core::Error when `run` is one rank of several: for the commands not yet data-parallel.
void require_one_process(const core::RunContext& run, const std::string& command);

// A phase's batches from the trainer's `step` on (after --resume): batch k of the run is drawn
// from (seed, k), so a resumed run continues the uninterrupted one's data; rank r of R draws the
// job's batches k * R + r.
std::unique_ptr<dataloader::PrefetchingSampler> phase_batches(const core::RunContext& run,
                                                              std::shared_ptr<const dataloader::WindowSource> source,
                                                              dataloader::WindowSamplerOptions sampling, int64_t step, int depth);

}  // namespace wm::tools
