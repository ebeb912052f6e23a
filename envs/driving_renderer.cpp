#include "envs/driving_renderer.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace wm::envs {

namespace {

struct Rgb {
  uint8_t r, g, b;
};

Rgb mix(Rgb a, Rgb b, double t) {
  auto lerp = [t](uint8_t x, uint8_t y) { return static_cast<uint8_t>(x + (y - x) * t + 0.5); };
  return {lerp(a.r, b.r), lerp(a.g, b.g), lerp(a.b, b.b)};
}

constexpr Rgb kSkyTop{64, 120, 196}, kSkyHorizon{176, 204, 232}, kHaze{168, 190, 200};
constexpr Rgb kHills{96, 112, 140};
constexpr Rgb kGrassLight{72, 156, 64}, kGrassDark{56, 132, 52};
constexpr Rgb kRoadLight{112, 112, 116}, kRoadDark{100, 100, 104};
constexpr Rgb kRumbleRed{196, 40, 36}, kRumbleWhite{232, 232, 232}, kLine{236, 236, 236};
constexpr Rgb kDashboard{34, 34, 40}, kDashboardEdge{58, 58, 66}, kBarSlot{62, 62, 70};
constexpr std::array<Rgb, 6> kCarColors{{{210, 40, 40}, {40, 90, 210}, {240, 200, 40},
                                         {240, 240, 240}, {40, 170, 90}, {150, 60, 180}}};

// Camera and layout, in fractions of the (supersampled) frame.
constexpr double kHorizon = 0.40;      // of the height
constexpr double kDashboardTop = 0.88; // rows below are the car's dashboard
constexpr double kCameraHeight = 0.7;  // road units above the road (the road is 2 wide)
constexpr double kFarDistance = 150.0;
constexpr double kStripeLength = 3.0;  // grass / rumble alternation (the speed cue)
constexpr double kDashPeriod = 4.0;    // lane markings: 2 units painted, 2 blank

class Canvas {
 public:
  Canvas(std::vector<uint8_t>& pixels, int width, int height, int clip_bottom)
      : px_(pixels), w_(width), h_(height), clip_(clip_bottom) {}

  void put(int x, int y, Rgb c) {
    uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }
  // Fills [x0, x1) x [y0, y1), clipped to the frame above the dashboard.
  void rect(double x0, double y0, double x1, double y1, Rgb c) {
    const int ix0 = std::max(0, static_cast<int>(std::lround(x0)));
    const int ix1 = std::min(w_, static_cast<int>(std::lround(x1)));
    const int iy0 = std::max(0, static_cast<int>(std::lround(y0)));
    const int iy1 = std::min(clip_, static_cast<int>(std::lround(y1)));
    for (int y = iy0; y < iy1; ++y) {
      for (int x = ix0; x < ix1; ++x) put(x, y, c);
    }
  }
  void ellipse(double cx, double cy, double rx, double ry, Rgb c, Rgb shade) {
    const int iy0 = std::max(0, static_cast<int>(cy - ry));
    const int iy1 = std::min(clip_, static_cast<int>(cy + ry) + 1);
    for (int y = iy0; y < iy1; ++y) {
      const double dy = (y + 0.5 - cy) / ry;
      if (dy * dy >= 1.0) continue;
      const double half = rx * std::sqrt(1.0 - dy * dy);
      const int ix0 = std::max(0, static_cast<int>(std::lround(cx - half)));
      const int ix1 = std::min(w_, static_cast<int>(std::lround(cx + half)));
      const Rgb colour = dy > 0.3 ? shade : c;
      for (int x = ix0; x < ix1; ++x) put(x, y, colour);
    }
  }
  int width() const { return w_; }
  int height() const { return h_; }

 private:
  std::vector<uint8_t>& px_;
  int w_, h_, clip_;
};

void draw_sky(Canvas& canvas, const DrivingScene& scene, double horizon, double focal) {
  const double heading = scene.track->heading(scene.z);
  for (int x = 0; x < canvas.width(); ++x) {
    // Hills sit at infinity: they move with the heading only (parallax against the road).
    const double angle = (x + 0.5 - canvas.width() / 2.0) / focal + heading;
    const double hill = (0.05 + 0.035 * std::sin(angle * 3.1 + 1.3) + 0.025 * std::sin(angle * 7.3 + 0.4) +
                         0.012 * std::sin(angle * 17.0)) * canvas.height();
    for (int y = 0; y < static_cast<int>(horizon); ++y) {
      const bool is_hill = y + 0.5 > horizon - hill;
      canvas.put(x, y, is_hill ? kHills : mix(kSkyTop, kSkyHorizon, (y + 0.5) / horizon));
    }
  }
}

void draw_road(Canvas& canvas, const DrivingScene& scene, double horizon, int bottom, double focal) {
  const double lane_line = scene.physics->lane_width / 2.0;  // |u| of the two lane lines
  for (int y = static_cast<int>(horizon); y < bottom; ++y) {
    const double below = y + 0.5 - horizon;
    const double d = below > 0 ? focal * kCameraHeight / below : kFarDistance;
    const double haze = std::clamp((d - 15.0) / (kFarDistance - 15.0), 0.0, 1.0) * 0.75;
    const double world_z = scene.z + d;
    const bool stripe = static_cast<int64_t>(std::floor(world_z / kStripeLength)) % 2 == 0;
    const bool dash = std::fmod(world_z, kDashPeriod) < kDashPeriod / 2.0;
    const Rgb grass = mix(stripe ? kGrassLight : kGrassDark, kHaze, haze);
    const Rgb road = mix(stripe ? kRoadLight : kRoadDark, kHaze, haze);
    const Rgb rumble = mix(stripe ? kRumbleRed : kRumbleWhite, kHaze, haze);
    const Rgb line = mix(kLine, kHaze, haze);
    if (d >= kFarDistance) {
      for (int x = 0; x < canvas.width(); ++x) canvas.put(x, y, grass);
      continue;
    }
    const double centre = canvas.width() / 2.0 + (scene.track->relative_centre(scene.z, d) - scene.x) * focal / d;
    const double units_per_px = d / focal;
    for (int x = 0; x < canvas.width(); ++x) {
      const double u = std::abs((x + 0.5 - centre) * units_per_px);
      Rgb c = grass;
      if (u < 1.0) {
        c = road;
        if ((dash && std::abs(u - lane_line) < 0.035) || std::abs(u - 0.93) < 0.025) c = line;
      } else if (u < 1.12) {
        c = rumble;
      }
      canvas.put(x, y, c);
    }
  }
}

struct Sprite {
  double d;  // distance ahead: drawn far to near
  double x;  // lateral world position
  int kind;  // 0 tree, 1 post, 2 car
  int color;
};

void draw_sprite(Canvas& canvas, const DrivingScene& scene, const Sprite& s, double horizon, double focal) {
  const double ppu = focal / s.d;  // pixels per road unit at this distance
  const double sx = canvas.width() / 2.0 + (scene.track->relative_centre(scene.z, s.d) + s.x - scene.x) * ppu;
  const double ground = horizon + kCameraHeight * ppu;
  if (s.kind == 0) {  // tree: trunk and a two-tone canopy
    canvas.rect(sx - 0.07 * ppu, ground - 0.9 * ppu, sx + 0.07 * ppu, ground, Rgb{110, 72, 40});
    canvas.ellipse(sx, ground - 1.35 * ppu, 0.5 * ppu, 0.6 * ppu, Rgb{40, 116, 48}, Rgb{30, 92, 40});
  } else if (s.kind == 1) {  // post with a red reflector
    canvas.rect(sx - 0.03 * ppu, ground - 0.7 * ppu, sx + 0.03 * ppu, ground, Rgb{236, 236, 236});
    canvas.rect(sx - 0.03 * ppu, ground - 0.7 * ppu, sx + 0.03 * ppu, ground - 0.6 * ppu, kRumbleRed);
  } else {  // car seen from behind: wheels, body, tail lights, cabin and rear window
    const double w = scene.physics->car_width * ppu, h = 0.42 * ppu;
    const Rgb body = kCarColors[s.color % kCarColors.size()];
    const Rgb dark = mix(body, Rgb{0, 0, 0}, 0.45);
    canvas.rect(sx - 0.5 * w, ground - 0.14 * h, sx - 0.3 * w, ground, Rgb{20, 20, 20});
    canvas.rect(sx + 0.3 * w, ground - 0.14 * h, sx + 0.5 * w, ground, Rgb{20, 20, 20});
    canvas.rect(sx - 0.5 * w, ground - 0.62 * h, sx + 0.5 * w, ground - 0.12 * h, body);
    canvas.rect(sx - 0.46 * w, ground - 0.52 * h, sx - 0.3 * w, ground - 0.38 * h, Rgb{250, 30, 30});
    canvas.rect(sx + 0.3 * w, ground - 0.52 * h, sx + 0.46 * w, ground - 0.38 * h, Rgb{250, 30, 30});
    canvas.rect(sx - 0.36 * w, ground - h, sx + 0.36 * w, ground - 0.62 * h, dark);
    canvas.rect(sx - 0.28 * w, ground - 0.92 * h, sx + 0.28 * w, ground - 0.68 * h, Rgb{50, 60, 80});
  }
}

void draw_sprites(Canvas& canvas, const DrivingScene& scene, double horizon, int bottom, double focal) {
  const double nearest = focal * kCameraHeight / (bottom - horizon);
  std::vector<Sprite> sprites;
  const auto& objects = scene.track->objects();
  auto it = std::lower_bound(objects.begin(), objects.end(), scene.z + nearest,
                             [](const RoadsideObject& o, double z) { return o.z < z; });
  for (; it != objects.end() && it->z - scene.z < kFarDistance; ++it) {
    sprites.push_back({it->z - scene.z, it->x, it->kind == RoadsideObject::Kind::kTree ? 0 : 1, 0});
  }
  for (const TrafficCar& car : *scene.traffic) {
    const double d = car.z - scene.z;
    if (d > nearest && d < kFarDistance) sprites.push_back({d, car.x, 2, car.color});
  }
  std::sort(sprites.begin(), sprites.end(), [](const Sprite& a, const Sprite& b) { return a.d > b.d; });
  for (const Sprite& s : sprites) draw_sprite(canvas, scene, s, horizon, focal);
}

// The speed bar's slot, in the pixels of a frame `width` wide whose dashboard starts at row
// `top` of `height`: a slot half the width, filled green -> yellow -> red with speed.
struct SpeedBarSlot {
  double x0, length, y0, y1;
};
SpeedBarSlot speed_bar_slot(double top, double height, double width) {
  const double h = height - top;
  return {0.08 * width, 0.5 * width, top + 0.38 * h, top + 0.78 * h};
}

void draw_dashboard(Canvas& canvas, std::vector<uint8_t>& pixels, const DrivingScene& scene, int top) {
  Canvas full(pixels, canvas.width(), canvas.height(), canvas.height());
  const int h = canvas.height() - top;
  full.rect(0, top, canvas.width(), canvas.height(), kDashboard);
  full.rect(0, top, canvas.width(), top + std::max(1.0, 0.12 * h), kDashboardEdge);
  const auto [x0, length, y0, y1] = speed_bar_slot(top, canvas.height(), canvas.width());
  full.rect(x0, y0, x0 + length, y1, kBarSlot);
  const double filled = std::clamp(scene.speed_fraction, 0.0, 1.0) * length;
  for (int x = static_cast<int>(x0); x < static_cast<int>(x0 + filled); ++x) {
    const double t = (x - x0) / length;
    const Rgb c = t < 0.5 ? mix(Rgb{40, 200, 60}, Rgb{240, 220, 40}, t * 2) : mix(Rgb{240, 220, 40}, Rgb{230, 40, 30}, t * 2 - 1);
    full.rect(x, y0, x + 1, y1, c);
  }
}

void downsample(const std::vector<uint8_t>& canvas, int width, int height, int factor, uint8_t* out) {
  const int big_width = width * factor;
  const int area = factor * factor;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      int sum[3] = {0, 0, 0};
      for (int dy = 0; dy < factor; ++dy) {
        const uint8_t* row = &canvas[(static_cast<size_t>(y * factor + dy) * big_width + x * factor) * 3];
        for (int dx = 0; dx < factor * 3; dx += 3) {
          sum[0] += row[dx];
          sum[1] += row[dx + 1];
          sum[2] += row[dx + 2];
        }
      }
      uint8_t* o = out + (static_cast<size_t>(y) * width + x) * 3;
      for (int c = 0; c < 3; ++c) o[c] = static_cast<uint8_t>((sum[c] + area / 2) / area);
    }
  }
}

}  // namespace

double read_speed_bar(const uint8_t* frame, int height, int width) {
  const auto [x0, length, y0, y1] = speed_bar_slot(kDashboardTop * height, height, width);
  const int row = std::clamp(static_cast<int>(0.5 * (y0 + y1)), 0, height - 1);
  // The slot is grey (62, 62, 70: channels 8 apart); every colour of the bar has channels at
  // least 160 apart. A pixel counts as filled above 60, so the blurred end of a reconstructed
  // bar counts where it is mostly bar.
  int filled = 0;
  const int first = std::max(0, static_cast<int>(std::lround(x0))), last = std::min(width, static_cast<int>(std::lround(x0 + length)));
  for (int x = first; x < last; ++x) {
    const uint8_t* p = frame + (static_cast<size_t>(row) * width + x) * 3;
    const int spread = std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]});
    filled += spread > 60;
  }
  return last > first ? static_cast<double>(filled) / static_cast<double>(last - first) : 0.0;
}

void render_driving_frame(const DrivingScene& scene, int height, int width, int supersample,
                          std::vector<uint8_t>& pixels, uint8_t* out) {
  const int big_h = height * supersample, big_w = width * supersample;
  pixels.resize(static_cast<size_t>(big_h) * big_w * 3);
  const double horizon = kHorizon * big_h;
  const int bottom = static_cast<int>(std::lround(kDashboardTop * big_h));
  const double focal = 1.2 * big_h;  // vertical field of view fixed; wider frames see more sideways
  Canvas canvas(pixels, big_w, big_h, bottom);
  draw_sky(canvas, scene, horizon, focal);
  draw_road(canvas, scene, horizon, bottom, focal);
  draw_sprites(canvas, scene, horizon, bottom, focal);
  draw_dashboard(canvas, pixels, scene, bottom);
  if (supersample == 1) {
    std::copy(pixels.begin(), pixels.end(), out);
  } else {
    downsample(pixels, width, height, supersample, out);
  }
}

}  // namespace wm::envs
