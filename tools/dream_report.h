// `wm dream`'s outputs, in one folder (default <run>/dreams):
//   dream.mp4, dream.gif   real | reconstruction | dreams, the first --video-starts starts
//   contact_sheet.png      frames of the first start, from the last real one to the end
//   errors.csv, errors.json, error_curve.svg   the dream's drift from reality, per step
//   report.html            all of it in one self-contained file, with the run's training curves
// Everything is made in a temporary folder beside them and moved into place at the end, so
// a failed run leaves no partial file behind.
#pragma once

#include <filesystem>
#include <vector>

#include "tools/dream_rollout.h"

namespace wm::tools {

struct DreamReport {
  std::filesystem::path out;
  std::vector<std::filesystem::path> files;
  std::vector<DreamStepError> errors;
  int64_t dreamed_frames = 0;  // S x N x H frames imagined and decoded
  int64_t video_frames = 0;
  double fps = 0;              // of the video
  double seconds_imagine = 0, seconds_decode = 0, seconds_render = 0, seconds_encode = 0, seconds_total = 0;
};

DreamReport write_dream_report(const DreamOptions& options, double video_fps = 5.0);

}  // namespace wm::tools
