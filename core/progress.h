// Progress of long work: a redrawn bar with rate and ETA when stderr is a terminal, plain
// periodic lines otherwise (logs, CI), so both humans and files get something readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace wm::core {

// The status line a terminal shows below the log: the progress bar redraws it in place, and
// a log line printed meanwhile must not start in the middle of it. The console log sink calls
// before_log_line() (which wipes the bar and holds the line) and after_log_line() (which draws
// the bar again below the new line); between the two, nothing else draws.
namespace status_line {
void before_log_line();
void after_log_line();
}  // namespace status_line

class ProgressBar {
 public:
  using Clock = std::chrono::steady_clock;

  // total <= 0: unknown length (no bar, no ETA). Draws on stderr; a terminal gets a bar.
  ProgressBar(std::string label, int64_t total, std::string unit = "it");
  // For tests and custom sinks: explicit stream, terminal mode and line interval.
  ProgressBar(std::string label, int64_t total, std::string unit, std::ostream& out,
              bool terminal, std::chrono::milliseconds plain_interval);
  ~ProgressBar();

  void advance(int64_t n = 1);
  // Prints the final state once (also called by the destructor).
  void finish();

  // "label  45% [#########...........] 450/1000 12.3 it/s ETA 0:44"
  std::string render(double elapsed_s) const;

 private:
  void maybe_draw(bool force);
  // Terminal mode: draws `text` as the status line on out_; hide() ends the line there.
  void show(const std::string& text);
  void hide();

  std::string label_;
  int64_t total_;
  std::string unit_;
  std::ostream& out_;
  bool terminal_;
  std::chrono::milliseconds interval_;
  int64_t done_ = 0;
  bool finished_ = false;
  bool shown_ = false;  // drawn at least once
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_ = start_;
};

}  // namespace wm::core
