#include "core/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <mutex>

namespace wm::core {

namespace {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ld:%02ld:%02ld", long(s / 3600), long(s / 60 % 60), long(s % 60));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ld:%02ld", long(s / 60), long(s % 60));
  }
  return buffer;
}

constexpr int kBarWidth = 24;

// The terminal's status line: which stream shows it and its text (empty: none shown). One
// mutex orders the bar's redraws and the log lines between them.
struct StatusLine {
  std::recursive_mutex mutex;
  std::ostream* out = nullptr;
  std::string text;
};

StatusLine& status() {
  static StatusLine line;
  return line;
}

}  // namespace

namespace status_line {

void before_log_line() {
  StatusLine& line = status();
  line.mutex.lock();
  if (line.out && !line.text.empty()) *line.out << "\r\033[K" << std::flush;  // the log line starts at column 0
}

void after_log_line() {
  StatusLine& line = status();
  if (line.out && !line.text.empty()) *line.out << line.text << std::flush;
  line.mutex.unlock();
}

}  // namespace status_line

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : ProgressBar(std::move(label), total, std::move(unit), std::cerr, ::isatty(STDERR_FILENO) == 1,
                  std::chrono::seconds(10)) {}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, std::ostream& out,
                         bool terminal, std::chrono::milliseconds plain_interval)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      out_(out),
      terminal_(terminal),
      interval_(terminal ? std::chrono::milliseconds(100) : plain_interval) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::show(const std::string& text) {
  StatusLine& line = status();
  std::lock_guard<std::recursive_mutex> lock(line.mutex);
  line.out = &out_;
  line.text = text;
  out_ << "\r\033[K" << text << std::flush;  // redraw the same line
}

void ProgressBar::hide() {
  StatusLine& line = status();
  std::lock_guard<std::recursive_mutex> lock(line.mutex);
  if (line.out == &out_) {
    line.out = nullptr;
    line.text.clear();
  }
  out_ << '\n' << std::flush;  // the bar's last state stays above what follows
}

std::string ProgressBar::render(double elapsed_s) const {
  const double rate = elapsed_s > 0 ? static_cast<double>(done_) / elapsed_s : 0.0;
  char rate_text[32];
  std::snprintf(rate_text, sizeof(rate_text), "%.1f", rate);
  std::string line = label_ + " ";
  if (total_ > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    char percent[8];
    std::snprintf(percent, sizeof(percent), "%3d%%", static_cast<int>(fraction * 100));
    line += percent;
    if (terminal_) {
      const int filled = static_cast<int>(fraction * kBarWidth);
      line += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "]";
    }
    line += " " + std::to_string(done_) + "/" + std::to_string(total_);
  } else {
    line += std::to_string(done_);
  }
  line += " " + std::string(rate_text) + " " + unit_ + "/s";
  if (total_ > 0) {
    const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : NAN;
    line += " ETA " + format_duration(eta);
  } else {
    line += " elapsed " + format_duration(elapsed_s);
  }
  return line;
}

void ProgressBar::advance(int64_t n) {
  done_ += n;
  maybe_draw(false);
}

void ProgressBar::maybe_draw(bool force) {
  const auto now = Clock::now();
  // A terminal shows the bar from the first step on; then at most every interval_.
  if (!force && !(terminal_ && !shown_) && now - last_draw_ < interval_) return;
  shown_ = true;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (terminal_) {
    show(render(elapsed));
  } else {
    out_ << render(elapsed) << '\n' << std::flush;
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  maybe_draw(/*force=*/true);
  if (terminal_) hide();
}

}  // namespace wm::core
