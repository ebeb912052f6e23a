// Progress of long work: a redrawn bar with rate and ETA when stderr is a terminal, plain
// periodic lines otherwise (logs, CI), so both humans and files get something readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace wm::core {

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

  std::string label_;
  int64_t total_;
  std::string unit_;
  std::ostream& out_;
  bool terminal_;
  std::chrono::milliseconds interval_;
  int64_t done_ = 0;
  bool finished_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_ = start_;
};

}  // namespace wm::core
