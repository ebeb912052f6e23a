#include "dataloader/video_test_support.h"
#include "test_support.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <torch/torch.h>

#include <cmath>
#include <cstdio>

namespace wm::test {

at::Tensor synthetic_frames(int64_t frames, int height, int width) {
  auto y = torch::linspace(0, 1, height).view({1, height, 1});
  auto x = torch::linspace(0, 1, width).view({1, 1, width});
  auto t = torch::arange(frames, torch::kFloat32).view({frames, 1, 1}) / static_cast<double>(std::max<int64_t>(frames, 1));
  auto r = 40 + 150 * (0.5 + 0.5 * torch::sin(3.14 * (x + 0.3 * t)));
  auto g = 40 + 150 * (y * 0.8 + 0.2 * torch::sin(6.28 * t));
  auto b = 80 + 100 * (0.5 * x + 0.5 * y) + 0 * t;
  auto image = torch::stack({r.expand({frames, height, width}), g.expand({frames, height, width}),
                             b.expand({frames, height, width})}, -1).clone();
  const int side = std::max(4, height / 6);
  for (int64_t i = 0; i < frames; ++i) {  // a lighter square moving diagonally
    const int64_t top = (i * 3) % std::max<int64_t>(1, height - side);
    const int64_t left = (i * 5) % std::max<int64_t>(1, width - side);
    // The same amount on R, G and B changes luma only: 4:2:0 codecs keep its sharp edges.
    image[i].narrow(0, top, side).narrow(1, left, side).add_(50);
  }
  return image.round().clamp(0, 255).to(torch::kUInt8);
}

void write_video(const std::filesystem::path& path, const at::Tensor& frames, viz::VideoWriterOptions options) {
  const at::Tensor data = frames.contiguous();
  viz::VideoWriter writer(path, static_cast<int>(data.size(1)), static_cast<int>(data.size(2)), options);
  for (int64_t i = 0; i < data.size(0); ++i) writer.write(data[i].data_ptr<uint8_t>());
  writer.close();
}

void write_png_folder(const std::filesystem::path& dir, const at::Tensor& frames) {
  std::filesystem::create_directories(dir);
  for (int64_t i = 0; i < frames.size(0); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "%05ld.png", static_cast<long>(i));
    write_video(dir / name, frames.narrow(0, i, 1), {});
  }
}

double psnr(const at::Tensor& a, const at::Tensor& b) { return psnr_of(a, b); }

bool has_encoder(const std::string& name) { return avcodec_find_encoder_by_name(name.c_str()) != nullptr; }

}  // namespace wm::test
