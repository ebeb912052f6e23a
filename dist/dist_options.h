// The `dist:` section of a run's config: how a data-parallel job's ranks talk (used only when
// a launcher -- wmrun, torchrun, srun, mpirun -- starts several).
#pragma once

#include <cstdint>

namespace wm::core {
class ConfigSchema;
}

namespace wm::dist {

struct DistOptions {
  // Joining the job and every collective wait at most this long, then fail naming what hung:
  // a dead or stalled rank ends the job instead of stalling it.
  double timeout_s = 300;
  // Gradients travel in buckets of this size, each all-reduced as soon as backward fills it.
  double bucket_mb = 25;
};

void describe(core::ConfigSchema& schema, DistOptions& options);

}  // namespace wm::dist
