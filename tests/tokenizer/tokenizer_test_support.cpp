#include "tokenizer/tokenizer_test_support.h"

#include <torch/torch.h>

#include <cstring>

#include "envs/driving_env.h"
#include "envs/driving_expert.h"

namespace wm::tokenizer {

TokenizerOptions small_options(int height, int width) {
  TokenizerOptions o;
  o.height = height;
  o.width = width;
  o.downsample = 4;
  o.channel_mult = {1, 2, 2};
  o.base_channels = 16;
  o.vocab_size = 256;
  o.code_dim = 16;
  return o;
}

// Frames of the driving game, driven by the expert, at the given size.
torch::Tensor driving_frames(int64_t count, int height, int width, int64_t every) {
  envs::DrivingOptions options;
  options.height = height;
  options.width = width;
  envs::DrivingEnv env(options);
  envs::DrivingExpert expert;
  torch::Tensor frames = torch::empty({count, height, width, 3}, torch::kUInt8);
  std::vector<uint8_t> frame(env.frame_spec().bytes());
  env.reset(5, frame.data());
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t k = 0; k < every; ++k) env.step(expert.act(env), frame.data());
    std::memcpy(frames[i].data_ptr<uint8_t>(), frame.data(), frame.size());
  }
  return frames;
}

}  // namespace wm::tokenizer
