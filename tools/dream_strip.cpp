#include "tools/dream_strip.h"

#include <torch/torch.h>

#include "core/error.h"
#include "core/file_io.h"
#include "dynamics/imagination.h"
#include "viz/video_writer.h"

namespace wm::tools {

void write_dream_strip(const std::filesystem::path& png, const dynamics::WorldModel& world, tokenizer::VQModel& tokenizer,
                       const dynamics::DynamicsBatch& window, int64_t context) {
  const int64_t L = window.tokens.size(1);
  if (window.tokens.size(0) != 1 || context < 1 || context >= L) {
    throw core::Error("dream strip: one window of more than " + std::to_string(context) + " steps needed, got " + c10::str(window.tokens.sizes()));
  }
  const torch::Device device = world->parameters().front().device();
  const at::Tensor tokens = window.tokens.to(device), actions = window.actions.to(device);
  dynamics::Imagination dream(world, 1, {.temperature = 1.0, .seed = 1});
  dream.reset(tokens.narrow(1, 0, context), actions.narrow(1, 0, context - 1));
  std::vector<at::Tensor> dreamed;  // [1, K] per step
  for (int64_t t = 0; t < context; ++t) dreamed.push_back(tokens.select(1, t));
  for (int64_t t = context - 1; t + 1 < L; ++t) dreamed.push_back(dream.step(actions.select(1, t)).tokens);

  // Both rows through the tokenizer: [L, H, W, 3] each.
  const auto& o = tokenizer->options();
  auto decode = [&](const at::Tensor& steps) {  // [L, K]
    return tokenizer->decode(steps.reshape({L, o.grid_height(), o.grid_width()})).to(torch::kCPU);
  };
  const at::Tensor real = decode(tokens.squeeze(0));
  const at::Tensor imagined = decode(torch::cat(dreamed, 0));
  // [2 H, L W, 3]: real on top, dream below.
  const at::Tensor row_real = real.permute({1, 0, 2, 3}).reshape({o.height, L * o.width, 3});
  const at::Tensor row_dream = imagined.permute({1, 0, 2, 3}).reshape({o.height, L * o.width, 3});
  const at::Tensor strip = torch::cat({row_real, row_dream}, 0).contiguous();
  core::ensure_directory(png.parent_path());
  viz::VideoWriter writer(png, static_cast<int>(strip.size(0)), static_cast<int>(strip.size(1)), {.codec = "png"});
  writer.write(strip.data_ptr<uint8_t>());
  writer.close();
}

}  // namespace wm::tools
