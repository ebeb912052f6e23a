// RGB images in memory for the visualizers: panels copied, upscaled nearest-neighbour (64 x 64
// frames stay sharp and legible), boxes filled, and short labels drawn in a built-in 5 x 7
// pixel font (upper case, digits and the punctuation numbers need; lower case is drawn as
// upper case, any other character as '?').
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wm::viz {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

struct Image {
  int height = 0, width = 0;
  std::vector<uint8_t> pixels;  // height x width x 3, row-major

  Image() = default;
  Image(int height, int width, Rgb fill = {});
  // A copy of `height` x `width` x 3 bytes.
  static Image from_rgb(const uint8_t* rgb, int height, int width);

  uint8_t* at(int y, int x) { return &pixels[(static_cast<size_t>(y) * width + x) * 3]; }
  const uint8_t* at(int y, int x) const { return &pixels[(static_cast<size_t>(y) * width + x) * 3]; }
};

// Each pixel repeated factor x factor times.
Image upscale_nearest(const Image& image, int factor);
// Fills [x, x + w) x [y, y + h), clipped to the image.
void fill_rect(Image& image, int x, int y, int w, int h, Rgb color);
// Copies `source` with its top-left corner at (x, y), clipped to `target`.
void blit(Image& target, const Image& source, int x, int y);

// The font: glyphs of 5 x 7 pixels on a 6 x 8 grid (a column and a row of spacing), each
// pixel `scale` x `scale`.
constexpr int kGlyphWidth = 6, kGlyphHeight = 8;
int text_width(const std::string& text, int scale);
// Draws `text` with its top-left corner at (x, y), clipped to the image.
void draw_text(Image& image, int x, int y, const std::string& text, Rgb color, int scale = 1);

}  // namespace wm::viz
