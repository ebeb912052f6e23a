#include "dist/data_parallel.h"

#include <ATen/ATen.h>

#include <sstream>

#include "core/error.h"

namespace wm::dist {

void broadcast_from_rank0(ProcessGroup& group, std::vector<at::Tensor> tensors) {
  at::NoGradGuard no_grad;
  group.broadcast(tensors, /*root=*/0);
}

void check_same_config(ProcessGroup& group, const std::string& config_yaml) {
  const std::vector<std::string> all = group.all_gather_text("config", config_yaml);
  for (int rank = 1; rank < static_cast<int>(all.size()); ++rank) {
    if (all[static_cast<size_t>(rank)] == all[0]) continue;
    std::istringstream mine(all[static_cast<size_t>(rank)]), first(all[0]);
    std::string a, b;
    int line = 0;
    while (true) {
      const bool more_a = static_cast<bool>(std::getline(mine, a)), more_b = static_cast<bool>(std::getline(first, b));
      ++line;
      if (!more_a && !more_b) break;
      if (a != b || more_a != more_b) {
        throw core::Error("the ranks' configs differ: rank " + std::to_string(rank) + " has '" + (more_a ? a : "(end)") + "' where rank 0 has '" +
                          (more_b ? b : "(end)") + "' (line " + std::to_string(line) + " of the resolved config); every rank must run the same config");
      }
    }
  }
}

core::Scalars average_over_ranks(ProcessGroup& group, core::Scalars scalars) {
  if (group.world_size() == 1 || scalars.empty()) return scalars;
  std::vector<double> values;
  for (const auto& [name, value] : scalars) values.push_back(value);
  at::Tensor t = at::tensor(values, at::kDouble).to(group.device());
  group.all_reduce_sum(t);
  t = t.cpu() / static_cast<double>(group.world_size());
  for (size_t i = 0; i < scalars.size(); ++i) scalars[i].second = t[static_cast<int64_t>(i)].item<double>();
  return scalars;
}

}  // namespace wm::dist
