// The learning-rate schedule every wm trainer uses: linear warm-up to the peak, then a
// cosine down to peak * min_ratio at `total_steps`, flat after.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace wm::core {

inline double warmup_cosine_lr(double peak, int64_t step, int64_t warmup_steps, int64_t total_steps, double min_ratio) {
  if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const double span = std::max<double>(1.0, static_cast<double>(total_steps - warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
  return peak * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

}  // namespace wm::core
