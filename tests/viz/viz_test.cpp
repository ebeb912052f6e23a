// The visualizers' drawing parts: the palette a GIF frame is mapped to, nearest-neighbour
// upscaling and the built-in font, the SVG charts' points, and GIF files FFmpeg reads back.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <set>

#include "test_support.h"
#include "viz/palette.h"
#include "viz/raster.h"
#include "viz/svg_chart.h"
#include "viz/video_writer.h"

namespace wm {
namespace {

TEST(Palette, APictureOfFewColoursIsMappedExactly) {
  // 40 distinct colours, each on several pixels: the palette must hold every one of them.
  std::vector<uint8_t> rgb;
  for (int i = 0; i < 400; ++i) {
    const int c = (i * 7) % 40;
    rgb.insert(rgb.end(), {static_cast<uint8_t>(c * 6), static_cast<uint8_t>(255 - c * 5), static_cast<uint8_t>((c * 37) % 256)});
  }
  const auto palette = viz::median_cut_palette(rgb.data(), 400);
  EXPECT_EQ(palette.size(), 40u);
  std::vector<uint8_t> indices(400);
  viz::map_to_palette(rgb.data(), 400, palette, indices.data());
  for (size_t i = 0; i < 400; ++i) {
    for (int c = 0; c < 3; ++c) ASSERT_EQ(palette[indices[i]][c], rgb[3 * i + c]) << "pixel " << i;
  }
}

TEST(Palette, ManyColoursAreCutTo256NearbyOnes) {
  std::vector<uint8_t> rgb;
  for (int r = 0; r < 64; ++r) {
    for (int g = 0; g < 64; ++g) rgb.insert(rgb.end(), {static_cast<uint8_t>(r * 4), static_cast<uint8_t>(g * 4), static_cast<uint8_t>((r + g) * 2)});
  }
  const size_t pixels = rgb.size() / 3;
  const auto palette = viz::median_cut_palette(rgb.data(), pixels);
  EXPECT_EQ(palette.size(), 256u);
  std::vector<uint8_t> indices(pixels);
  viz::map_to_palette(rgb.data(), pixels, palette, indices.data());
  double worst = 0;
  for (size_t i = 0; i < pixels; ++i) {
    double d = 0;
    for (int c = 0; c < 3; ++c) d += std::pow(palette[indices[i]][c] - rgb[3 * i + c], 2);
    worst = std::max(worst, std::sqrt(d));
  }
  EXPECT_LT(worst, 24.0);  // 4096 colours in 256 boxes: every pixel within a box's reach
}

TEST(Raster, UpscalingRepeatsEachPixelAndTextStaysInItsBox) {
  viz::Image small(2, 3);
  small.at(1, 2)[0] = 200;
  const viz::Image big = viz::upscale_nearest(small, 4);
  ASSERT_EQ(big.height, 8);
  ASSERT_EQ(big.width, 12);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 12; ++x) EXPECT_EQ(big.at(y, x)[0], (y >= 4 && x >= 8) ? 200 : 0) << y << "," << x;
  }

  viz::Image canvas(40, 80);
  viz::draw_text(canvas, 5, 3, "R 0.5", viz::Rgb{255, 255, 255}, 2);
  EXPECT_EQ(viz::text_width("R 0.5", 2), 5 * viz::kGlyphWidth * 2);
  int set = 0;
  for (int y = 0; y < canvas.height; ++y) {
    for (int x = 0; x < canvas.width; ++x) {
      if (canvas.at(y, x)[0] == 0) continue;
      ++set;
      EXPECT_GE(x, 5);
      EXPECT_LT(x, 5 + viz::text_width("R 0.5", 2));
      EXPECT_GE(y, 3);
      EXPECT_LT(y, 3 + 7 * 2);
    }
  }
  EXPECT_GT(set, 40);
  // Lower case is drawn as upper case; a character the font lacks as '?'.
  viz::Image a(8, 6), b(8, 6), q(8, 6), unknown(8, 6);
  viz::draw_text(a, 0, 0, "a", {255, 255, 255});
  viz::draw_text(b, 0, 0, "A", {255, 255, 255});
  viz::draw_text(q, 0, 0, "?", {255, 255, 255});
  viz::draw_text(unknown, 0, 0, "~", {255, 255, 255});
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(unknown.pixels, q.pixels);
  EXPECT_NE(a.pixels, q.pixels);
}

TEST(SvgChart, EachSeriesCarriesItsFinitePointsAndTextIsEscaped) {
  viz::ChartSeries measured{.name = "dream <1>", .x = {0, 1, 2, 3}, .y = {25, 21, NAN, 18}};
  viz::ChartSeries ceiling{.name = "ceiling", .x = {0, 1, 2, 3}, .y = {25, 25, 25, 25}, .dashed = true};
  const std::string svg = viz::svg_line_chart({measured, ceiling}, {.title = "PSNR & drift", .x_label = "step", .y_label = "dB"});
  EXPECT_NE(svg.find("data-points=\"7\""), std::string::npos) << svg;  // the whole chart
  EXPECT_NE(svg.find("data-series=\"dream &lt;1&gt;\" data-points=\"3\""), std::string::npos);
  EXPECT_NE(svg.find("data-series=\"ceiling\" data-points=\"4\""), std::string::npos);
  EXPECT_NE(svg.find("PSNR &amp; drift"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  // The polyline's coordinates stay inside the chart.
  const std::regex point("([-0-9.e]+),([-0-9.e]+)");
  const size_t start = svg.find("points=\"");
  const std::string points = svg.substr(start + 8, svg.find('"', start + 8) - start - 8);
  for (std::sregex_iterator it(points.begin(), points.end(), point), end; it != end; ++it) {
    const double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
    EXPECT_GE(x, 0);
    EXPECT_LE(x, 560);
    EXPECT_GE(y, 0);
    EXPECT_LE(y, 300);
  }
}

TEST(VideoWriter, WritesAGifFFmpegReadsBackFrameByFrame) {
  test::TempDir dir;
  const auto path = dir / "moving.gif";
  viz::VideoWriter writer(path, 24, 40, {.fps = 5});
  for (int f = 0; f < 6; ++f) {
    viz::Image frame(24, 40, viz::Rgb{20, 40, 200});
    viz::fill_rect(frame, f * 5, 4, 8, 8, viz::Rgb{250, 200, 10});
    writer.write(frame.pixels.data());
  }
  writer.close();
  const auto probe = test::run_command("ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 " +
                                       path.string());
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  EXPECT_EQ(probe.out, "gif,40,24,6\n");
  // No temporary file beside it.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace wm
