// What data-parallel training does around the gradient all-reduce: the same weights on every
// rank at the start and the same config everywhere (figures: core::combine_figures).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "dist/process_group.h"

namespace wm::dist {

// Rank 0's values into `tensors` (parameters and buffers) on every rank, in place.
void broadcast_from_rank0(ProcessGroup& group, std::vector<at::Tensor> tensors);

// Throws wm::core::Error on every rank when a rank's resolved config differs from rank 0's,
// naming the first line that differs (e.g. `dynamics.width: 256` on rank 1 against `128`).
void check_same_config(ProcessGroup& group, const std::string& config_yaml);

}  // namespace wm::dist
