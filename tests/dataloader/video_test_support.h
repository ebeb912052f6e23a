// Videos made inside the tests: known frames encoded with FFmpeg (viz::VideoWriter).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>

#include "viz/video_writer.h"

namespace wm::test {

// T frames [T, H, W, 3] with smooth colour gradients that drift with t and a bright square
// (brighter, same colour) that moves: content 4:2:0 codecs keep at high quality, and every
// frame differs from the others.
at::Tensor synthetic_frames(int64_t frames, int height, int width);

// Encodes `frames` into `path` (container from the extension).
void write_video(const std::filesystem::path& path, const at::Tensor& frames, viz::VideoWriterOptions options);

// Writes frames as 00000.png, 00001.png, ... into `dir`.
void write_png_folder(const std::filesystem::path& dir, const at::Tensor& frames);

// Peak signal-to-noise ratio in dB between two uint8 tensors of the same shape.
double psnr(const at::Tensor& a, const at::Tensor& b);

bool has_encoder(const std::string& name);

}  // namespace wm::test
