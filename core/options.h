// Options every run has, whatever it trains: where it writes, how it logs and checkpoints,
// which device and precision it uses. Defaults are chosen for the CPU demo.
#pragma once

#include <cstdint>
#include <string>

#include "core/config_schema.h"
#include "core/device.h"

namespace wm::core {

struct RunOptions {
  std::string name = "demo";     // run directory: <out_dir>/<name>
  std::string out_dir = "runs";  // relative to the working directory
  int64_t seed = 0;              // same seed + same config = same run (on the same device)
  std::string device = "auto";   // auto = cuda:0 when a GPU is visible, else cpu
  Precision precision = Precision::kFp32;  // bf16 autocast halves activation memory on GPUs
  int threads = 0;               // intra-op threads per process; 0 = cores / local ranks
};

struct LogOptions {
  int64_t every_steps = 10;        // metrics line every N optimizer steps
  std::string level = "info";      // trace|debug|info|warn|error
  bool all_ranks_console = false;  // rank 0 alone prints by default; every rank logs to file
  bool tensorboard = true;         // also write TensorBoard event files under <run>/tb
};

struct CheckpointOptions {
  int64_t every_steps = 1000;  // a checkpoint costs a few seconds; 1000 steps is minutes
  int64_t keep_last = 3;       // older ones are deleted; 3 survives one corrupt file and more
};

void describe(ConfigSchema& schema, RunOptions& run);
void describe(ConfigSchema& schema, LogOptions& log);
void describe(ConfigSchema& schema, CheckpointOptions& checkpoint);

}  // namespace wm::core
