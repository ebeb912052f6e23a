// Random augmentation of training frames for the tokenizer: mirror, crop-and-rescale and
// colour jitter, drawn per frame from torch's global generator (saved in checkpoints). A
// tokenizer only has to reconstruct what it is shown, so augmented frames stay valid
// targets; they widen the scenes and lighting a short recording covers.
#pragma once

#include <torch/types.h>

namespace wm::tokenizer {

struct AugmentOptions {
  double flip = 0.0;      // probability of a left-right mirror
  double crop_min = 1.0;  // crops keep a side of crop_min..1 of the frame, rescaled back (1: off)
  double color = 0.0;     // brightness, contrast and saturation each scaled by 1 +- color

  bool enabled() const { return flip > 0 || crop_min < 1 || color > 0; }
  // Throws wm::core::Error naming the value.
  void validate() const;
};

// x float [B, 3, H, W] in [-1, 1] -> the same shape and range, channels-last.
torch::Tensor augment_frames(const torch::Tensor& x, const AugmentOptions& options);

}  // namespace wm::tokenizer
