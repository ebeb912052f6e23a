// One RGB frame to a PNG or JPEG file's bytes in memory, with FFmpeg's image encoders (what
// `wm play` sends to the page per dreamed frame). An encoder is made once per frame size and
// kept: making one costs more than encoding a small frame.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace wm::viz {

enum class ImageFormat { kPng, kJpeg };

class ImageEncoder {
 public:
  // `quality`: JPEG's qscale, 2 (best) .. 31; ignored for PNG (lossless).
  ImageEncoder(ImageFormat format, int height, int width, int quality = 3);
  ~ImageEncoder();
  ImageEncoder(const ImageEncoder&) = delete;
  ImageEncoder& operator=(const ImageEncoder&) = delete;

  // height x width x 3 RGB bytes -> the image file's bytes. Throws wm::core::Error.
  std::string encode(const uint8_t* rgb);
  // "image/png" or "image/jpeg".
  const char* mime_type() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wm::viz
