#include "core/options.h"

#include <spdlog/common.h>

namespace wm::core {

void describe(ConfigSchema& schema, RunOptions& run) {
  schema.add("name", &run.name, "run directory is <out_dir>/<name>", [](const std::string& s) {
    bool ok = !s.empty() && s.find('/') == std::string::npos && s != "." && s != "..";
    return ok ? std::string() : std::string("a non-empty name without '/'");
  });
  schema.add("out_dir", &run.out_dir, "parent directory of run directories");
  schema.add("seed", &run.seed, "same seed + same config = same run on the same device");
  schema.add("device", &run.device, "auto|cpu|cuda|cuda:<index>; auto prefers a GPU",
             [](const std::string& s) { return validate_device_spec(s); });
  schema.add_choice("precision", &run.precision,
                    {{"fp32", Precision::kFp32}, {"bf16", Precision::kBf16}},
                    "bf16 autocast on CUDA halves activation memory; fp32 is exact");
  schema.add("threads", &run.threads, "intra-op threads per process; 0 = cores / local ranks", between(0, 1024));
}

void describe(ConfigSchema& schema, LogOptions& log) {
  schema.add("every_steps", &log.every_steps, "one metrics record every N optimizer steps", at_least(1));
  schema.add("level", &log.level, "trace|debug|info|warn|error", [](const std::string& s) {
    for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
      if (s == level) return std::string();
    }
    return std::string("one of trace|debug|info|warn|error");
  });
  schema.add("all_ranks_console", &log.all_ranks_console,
             "rank 0 alone prints by default; every rank always logs to its file");
  schema.add("tensorboard", &log.tensorboard, "write TensorBoard event files under <run>/tb");
}

void describe(ConfigSchema& schema, CheckpointOptions& checkpoint) {
  schema.add("every_steps", &checkpoint.every_steps, "save every N optimizer steps", at_least(1));
  schema.add("keep_last", &checkpoint.keep_last,
             "older checkpoints are deleted; >1 survives a corrupt newest file", at_least(0));
}

}  // namespace wm::core
