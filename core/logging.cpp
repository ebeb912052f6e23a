#include "core/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/file_io.h"

namespace wm::core {

void init_logging(const LogOptions& options, const std::filesystem::path& log_dir, int rank) {
  std::vector<spdlog::sink_ptr> sinks;
  if (rank == 0 || options.all_ranks_console) {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  }
  if (!log_dir.empty()) {
    ensure_directory(log_dir);
    const auto file = log_dir / ("rank" + std::to_string(rank) + ".log");
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string()));
    } catch (const spdlog::spdlog_ex& e) {
      throw Error("cannot open log file " + file.string() + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("wm", sinks.begin(), sinks.end());
  logger->set_pattern("[%H:%M:%S.%e] [rank " + std::to_string(rank) + "] [%^%l%$] %v");
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace wm::core
