// The actions.csv sidecar of a video: a header row, one row per sample, aligned to the video
// by a `frame` column (row i = frame i) or a `time_s` column (nearest row, or linear
// interpolation for continuous values). Any number of action columns; rewards and episode
// ends may be columns too.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace wm::dataloader {

struct SidecarOptions {
  std::vector<std::string> action_columns;  // empty: every column but frame/time_s/reward/done
  bool continuous = true;                   // float actions; else binned into one index
  // Discrete: per action column, its bin edges as text ("-0.1 0.1" -> 3 bins). The index is
  // mixed-radix over the columns, first column most significant.
  std::vector<std::string> bins;
  std::string reward_column;                // optional
  std::string done_column;                  // optional
  std::string align = "auto";               // auto (frame if present, else time_s) | frame | time_s
  std::string interpolation = "nearest";    // time_s alignment: nearest | linear
};

struct SidecarData {
  at::Tensor actions;  // float32 [T, A] or int64 [T]
  at::Tensor rewards;  // float32 [T] (zeros without a reward column)
  at::Tensor dones;    // uint8 [T] (zeros without a done column)
  std::vector<std::string> action_names;
  int64_t discrete_actions = 0;  // number of discrete actions (product of bin counts)
};

// Reads `path` for a video of `frames` frames at `fps`. Errors name the file and line: a
// missing column, a value that is not a number, rows that do not cover every frame.
SidecarData read_action_sidecar(const std::filesystem::path& path, const SidecarOptions& options, int64_t frames,
                                double fps);

}  // namespace wm::dataloader
