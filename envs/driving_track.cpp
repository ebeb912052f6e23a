#include "envs/driving_track.h"

#include <algorithm>
#include <cmath>

namespace wm::envs {

namespace {

double smoothstep(double t) {
  t = std::clamp(t, 0.0, 1.0);
  return t * t * (3.0 - 2.0 * t);
}

}  // namespace

DrivingTrack::DrivingTrack(std::mt19937_64& rng, double length) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const size_t samples = static_cast<size_t>(std::ceil(length / kSample)) + 2;
  curvature_.assign(samples, 0.0);

  // Sections: (start z, length, peak curvature); curvature eases in and out over 12 units
  // so the road never kinks.
  double z = 30.0;
  while (z < length) {
    const double section = 30.0 + 90.0 * unit(rng);
    const double kind = unit(rng);
    double peak = 0.0;
    if (kind < 0.35) {
      peak = 0.0;  // straight
    } else if (kind < 0.75) {
      peak = 0.005 + 0.015 * unit(rng);  // gentle: full speed with steering
    } else {
      peak = 0.03 + 0.03 * unit(rng);  // sharp: needs braking
    }
    if (unit(rng) < 0.5) peak = -peak;
    const double ease = std::min(12.0, section / 3.0);
    for (size_t i = static_cast<size_t>(z / kSample);
         i < samples && static_cast<double>(i) * kSample < z + section; ++i) {
      const double s = static_cast<double>(i) * kSample - z;
      curvature_[i] = peak * smoothstep(s / ease) * smoothstep((section - s) / ease);
    }
    z += section;
  }

  heading_.assign(samples, 0.0);
  offset_.assign(samples, 0.0);
  for (size_t i = 1; i < samples; ++i) {
    heading_[i] = heading_[i - 1] + 0.5 * (curvature_[i - 1] + curvature_[i]) * kSample;
    offset_[i] = offset_[i - 1] + 0.5 * (heading_[i - 1] + heading_[i]) * kSample;
  }

  for (double oz = 8.0; oz < length; oz += 5.0 + 9.0 * unit(rng)) {
    const double side = unit(rng) < 0.5 ? -1.0 : 1.0;
    const auto kind = unit(rng) < 0.7 ? RoadsideObject::Kind::kTree : RoadsideObject::Kind::kPost;
    const double x = kind == RoadsideObject::Kind::kPost ? side * (1.35 + 0.2 * unit(rng))
                                                         : side * (1.6 + 1.6 * unit(rng));
    objects_.push_back({kind, oz, x});
  }
}

double DrivingTrack::max_curvature_ahead(double z, double ahead) const {
  double worst = 0.0;
  for (double d = 0.0; d <= ahead; d += kSample) worst = std::max(worst, std::abs(curvature(z + d)));
  return worst;
}

}  // namespace wm::envs
