// The pictures of `wm dream`: per frame of the video, panels side by side — the real
// continuation, the tokenizer's reconstruction of it, and each sampled dream — upscaled
// nearest-neighbour, each labelled, with the step, the action that led to the frame, the
// reward and the chance of termination (predicted for dreams, recorded for reality).
#pragma once

#include <vector>

#include "tools/dream_rollout.h"
#include "viz/raster.h"

namespace wm::tools {

struct DreamFrameLayout {
  int scale = 1;        // frames are upscaled this many times (nearest neighbour)
  int text_scale = 1;   // the font's pixel size
  int height = 0, width = 0;  // of a whole video frame, both even
};
// The layout of a video frame for source frames of frame_height x frame_width and `samples`
// dreams beside the real and reconstructed panels.
DreamFrameLayout dream_frame_layout(int frame_height, int frame_width, int64_t samples);

// The video's frames: the first `starts` start points one after the other, C + H frames each
// (the context frames, then the dream). Every frame has the same even height and width.
std::vector<viz::Image> dream_video_frames(const DreamSet& set, const DreamDescription& description, int64_t starts);

// Up to `count` frames of `frames` (evenly spaced from `first`), three to a row.
viz::Image contact_sheet(const std::vector<viz::Image>& frames, size_t first, size_t last, size_t count);

}  // namespace wm::tools
