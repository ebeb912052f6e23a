// A 256-colour palette for an RGB picture (GIF frames are palette images): median cut — the
// colour box of the pixels split at the median of its widest channel until there are enough
// boxes — and each pixel mapped to its nearest palette colour.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace wm::viz {

using PaletteColor = std::array<uint8_t, 3>;

// At most `max_colors` (1..256) colours for `pixels` RGB pixels; fewer when the picture has
// fewer distinct colours.
std::vector<PaletteColor> median_cut_palette(const uint8_t* rgb, size_t pixels, int max_colors = 256);

// indices[i]: the palette entry nearest (squared RGB distance) to pixel i.
void map_to_palette(const uint8_t* rgb, size_t pixels, const std::vector<PaletteColor>& palette, uint8_t* indices);

}  // namespace wm::viz
