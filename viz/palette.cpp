#include "viz/palette.h"

#include <algorithm>
#include <unordered_map>

namespace wm::viz {

namespace {

// A box of the colour cube: the pixels' colours [begin, end) of the shared array.
struct Box {
  size_t begin, end;
  int widest_channel = 0, range = 0;
};

void measure(Box& box, const std::vector<PaletteColor>& colors) {
  std::array<int, 3> lo{255, 255, 255}, hi{0, 0, 0};
  for (size_t i = box.begin; i < box.end; ++i) {
    for (int c = 0; c < 3; ++c) {
      lo[c] = std::min<int>(lo[c], colors[i][c]);
      hi[c] = std::max<int>(hi[c], colors[i][c]);
    }
  }
  box.range = -1;
  for (int c = 0; c < 3; ++c) {
    if (hi[c] - lo[c] > box.range) {
      box.range = hi[c] - lo[c];
      box.widest_channel = c;
    }
  }
}

}  // namespace

std::vector<PaletteColor> median_cut_palette(const uint8_t* rgb, size_t pixels, int max_colors) {
  max_colors = std::clamp(max_colors, 1, 256);
  std::vector<PaletteColor> colors(pixels);
  for (size_t i = 0; i < pixels; ++i) colors[i] = {rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]};
  if (colors.empty()) return {PaletteColor{0, 0, 0}};

  std::vector<Box> boxes{{0, colors.size()}};
  measure(boxes[0], colors);
  while (static_cast<int>(boxes.size()) < max_colors) {
    // Split the box with the widest channel range (a box of one colour has range 0).
    auto widest = std::max_element(boxes.begin(), boxes.end(), [](const Box& a, const Box& b) { return a.range < b.range; });
    if (widest->range <= 0) break;
    Box box = *widest;
    const int c = box.widest_channel;
    const size_t middle = box.begin + (box.end - box.begin) / 2;
    std::nth_element(colors.begin() + static_cast<std::ptrdiff_t>(box.begin), colors.begin() + static_cast<std::ptrdiff_t>(middle),
                     colors.begin() + static_cast<std::ptrdiff_t>(box.end), [c](const PaletteColor& a, const PaletteColor& b) { return a[c] < b[c]; });
    // Every colour equal to the median goes to one side, so the halves never share a colour.
    const uint8_t median = colors[middle][c];
    const auto split = std::partition(colors.begin() + static_cast<std::ptrdiff_t>(box.begin), colors.begin() + static_cast<std::ptrdiff_t>(box.end),
                                      [c, median](const PaletteColor& a) { return a[c] < median; });
    size_t cut = static_cast<size_t>(split - colors.begin());
    if (cut == box.begin) {  // the median is the smallest value: split after it instead
      cut = static_cast<size_t>(std::partition(colors.begin() + static_cast<std::ptrdiff_t>(box.begin), colors.begin() + static_cast<std::ptrdiff_t>(box.end),
                                               [c, median](const PaletteColor& a) { return a[c] <= median; }) - colors.begin());
    }
    Box low{box.begin, cut}, high{cut, box.end};
    measure(low, colors);
    measure(high, colors);
    *widest = low;
    boxes.push_back(high);
  }

  std::vector<PaletteColor> palette;
  for (const Box& box : boxes) {
    std::array<uint64_t, 3> sum{0, 0, 0};
    for (size_t i = box.begin; i < box.end; ++i) {
      for (int c = 0; c < 3; ++c) sum[c] += colors[i][c];
    }
    const uint64_t n = box.end - box.begin;
    palette.push_back({static_cast<uint8_t>((sum[0] + n / 2) / n), static_cast<uint8_t>((sum[1] + n / 2) / n), static_cast<uint8_t>((sum[2] + n / 2) / n)});
  }
  return palette;
}

void map_to_palette(const uint8_t* rgb, size_t pixels, const std::vector<PaletteColor>& palette, uint8_t* indices) {
  std::unordered_map<uint32_t, uint8_t> nearest;  // colour -> entry: frames repeat few colours
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* p = rgb + 3 * i;
    const uint32_t key = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
    auto found = nearest.find(key);
    if (found == nearest.end()) {
      int best = 0, best_distance = 1 << 30;
      for (size_t e = 0; e < palette.size(); ++e) {
        const int dr = p[0] - palette[e][0], dg = p[1] - palette[e][1], db = p[2] - palette[e][2];
        const int distance = dr * dr + dg * dg + db * db;
        if (distance < best_distance) {
          best_distance = distance;
          best = static_cast<int>(e);
        }
      }
      found = nearest.emplace(key, static_cast<uint8_t>(best)).first;
    }
    indices[i] = found->second;
  }
}

}  // namespace wm::viz
