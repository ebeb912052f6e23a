// Logging through spdlog: the console (stderr, so stdout stays clean for --json output) for
// rank 0 -- or every rank when asked -- and always a per-rank file <run>/logs/rank<i>.log.
#pragma once

#include <spdlog/common.h>

#include <filesystem>

#include "core/options.h"

namespace wm::core {

// Replaces spdlog's default logger. An empty `log_dir` logs to the console only.
void init_logging(const LogOptions& options, const std::filesystem::path& log_dir, int rank);

// `console` wrapped so that its lines go above a progress bar on the terminal, never into it
// (what init_logging does to the stderr sink; public for its test).
spdlog::sink_ptr console_sink_beside_status_line(spdlog::sink_ptr console);

}  // namespace wm::core
