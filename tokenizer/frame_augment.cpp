#include "tokenizer/frame_augment.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::tokenizer {

void AugmentOptions::validate() const {
  auto fail = [](const std::string& what) { throw core::Error("tokenizer_train: " + what); };
  if (flip < 0 || flip > 1) fail("augment_flip " + std::to_string(flip) + " is not a probability in 0..1");
  if (crop_min <= 0 || crop_min > 1) fail("augment_crop_min " + std::to_string(crop_min) + " is outside (0, 1]");
  if (color < 0 || color >= 1) fail("augment_color " + std::to_string(color) + " is outside 0..1");
}

torch::Tensor augment_frames(const torch::Tensor& x, const AugmentOptions& o) {
  namespace F = torch::nn::functional;
  const int64_t batch = x.size(0);
  const auto per_frame = [&](double low, double high) { return torch::empty({batch}, x.options()).uniform_(low, high); };
  torch::Tensor y = x;
  if (o.flip > 0) {
    const torch::Tensor mirrored = per_frame(0, 1).lt(o.flip).view({batch, 1, 1, 1});
    y = torch::where(mirrored, y.flip({3}), y);
  }
  if (o.crop_min < 1) {
    // An affine sampling grid per frame: scale s zooms in on a window of side s, placed
    // anywhere inside the frame (shift within +-(1 - s) in normalized coordinates).
    const torch::Tensor scale = per_frame(o.crop_min, 1.0);
    const torch::Tensor shift_x = (per_frame(-1, 1) * (1 - scale)), shift_y = (per_frame(-1, 1) * (1 - scale));
    const torch::Tensor zero = torch::zeros_like(scale);
    const torch::Tensor theta = torch::stack({torch::stack({scale, zero, shift_x}, 1), torch::stack({zero, scale, shift_y}, 1)}, 1);
    const torch::Tensor grid = F::affine_grid(theta, y.sizes(), /*align_corners=*/false);  // [B, H, W, 2]
    y = F::grid_sample(y, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
  }
  if (o.color > 0) {
    torch::Tensor rgb = y.add(1.0).mul(0.5);  // [0, 1]
    const auto factor = [&] { return per_frame(1 - o.color, 1 + o.color).view({batch, 1, 1, 1}); };
    rgb = rgb * factor();                                                          // brightness
    const torch::Tensor mean = rgb.mean({1, 2, 3}, /*keepdim=*/true);
    rgb = (rgb - mean) * factor() + mean;                                          // contrast
    const torch::Tensor luma = torch::tensor({0.299, 0.587, 0.114}, x.options()).view({1, 3, 1, 1});
    const torch::Tensor gray = (rgb * luma).sum(1, /*keepdim=*/true);
    rgb = (rgb - gray) * factor() + gray;                                          // saturation
    y = rgb.clamp(0.0, 1.0).mul(2.0).sub(1.0);
  }
  return y.contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace wm::tokenizer
