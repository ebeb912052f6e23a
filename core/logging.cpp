#include "core/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"

namespace wm::core {

namespace {

// The console sink, wrapped so that a log line never lands in the middle of a progress bar on
// a terminal: the bar is wiped before the line and drawn again after it.
class BesideStatusLineSink : public spdlog::sinks::sink {
 public:
  explicit BesideStatusLineSink(spdlog::sink_ptr console) : console_(std::move(console)) {}
  void log(const spdlog::details::log_msg& message) override {
    status_line::before_log_line();
    try {
      console_->log(message);
    } catch (...) {
      status_line::after_log_line();
      throw;
    }
    status_line::after_log_line();
  }
  void flush() override { console_->flush(); }
  void set_pattern(const std::string& pattern) override { console_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override { console_->set_formatter(std::move(formatter)); }

 private:
  spdlog::sink_ptr console_;
};

}  // namespace

spdlog::sink_ptr console_sink_beside_status_line(spdlog::sink_ptr console) { return std::make_shared<BesideStatusLineSink>(std::move(console)); }

void init_logging(const LogOptions& options, const std::filesystem::path& log_dir, int rank) {
  std::vector<spdlog::sink_ptr> sinks;
  if (rank == 0 || options.all_ranks_console) {
    sinks.push_back(console_sink_beside_status_line(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
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
