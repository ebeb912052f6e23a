// Logging through spdlog: the console (stderr, so stdout stays clean for --json output) for
// rank 0 -- or every rank when asked -- and always a per-rank file <run>/logs/rank<i>.log.
#pragma once

#include <filesystem>

#include "core/options.h"

namespace wm::core {

// Replaces spdlog's default logger. An empty `log_dir` logs to the console only.
void init_logging(const LogOptions& options, const std::filesystem::path& log_dir, int rank);

}  // namespace wm::core
