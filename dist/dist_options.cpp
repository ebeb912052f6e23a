#include "dist/dist_options.h"

#include "core/config_schema.h"

namespace wm::dist {

void describe(core::ConfigSchema& schema, DistOptions& options) {
  schema.add("timeout_s", &options.timeout_s, "joining and every collective fail after this long (a hung or lost rank)",
             core::between(1, 86400));
  schema.add("bucket_mb", &options.bucket_mb, "gradient all-reduce bucket size; each starts as soon as backward fills it",
             core::between(0.001, 4096));
}

}  // namespace wm::dist
