// The procedural road of the driving game: curvature along the road, integrated into
// heading and lateral offset, plus the trees and posts beside it. Deterministic per seed.
//
// Units: the road is 2 wide (x in [-1, 1] is on the road), z is the distance along it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace wm::envs {

struct RoadsideObject {
  enum class Kind { kTree, kPost };
  Kind kind;
  double z;  // distance along the road
  double x;  // lateral position (|x| > 1: beside the road)
};

class DrivingTrack {
 public:
  static constexpr double kSample = 0.5;  // spacing of the precomputed curvature samples

  DrivingTrack() = default;
  // A road of at least `length` units: straight for the first 30, then straights, gentle and
  // sharp curves of random length and direction, eased in and out.
  DrivingTrack(std::mt19937_64& rng, double length);

  double length() const { return static_cast<double>(curvature_.size() - 1) * kSample; }
  double curvature(double z) const { return sample(curvature_, z); }
  // Lateral position of the road centre `d` ahead of z0, seen from a camera at z0 facing
  // along the road (small-angle approximation, as pseudo-3D racers do).
  double relative_centre(double z0, double d) const {
    return sample(offset_, z0 + d) - sample(offset_, z0) - sample(heading_, z0) * d;
  }
  double heading(double z) const { return sample(heading_, z); }
  // The largest |curvature| over [z, z + ahead].
  double max_curvature_ahead(double z, double ahead) const;
  const std::vector<RoadsideObject>& objects() const { return objects_; }

 private:
  double sample(const std::vector<double>& table, double z) const {
    double u = std::clamp(z / kSample, 0.0, static_cast<double>(table.size() - 1));
    size_t i = std::min(static_cast<size_t>(u), table.size() - 2);
    double t = u - static_cast<double>(i);
    return table[i] * (1.0 - t) + table[i + 1] * t;
  }

  std::vector<double> curvature_, heading_, offset_;
  std::vector<RoadsideObject> objects_;  // sorted by z
};

}  // namespace wm::envs
