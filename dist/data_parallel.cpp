#include "dist/data_parallel.h"

#include <ATen/ATen.h>

#include <sstream>

#include "core/config.h"
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
    // The first key that differs, named; where the texts are not configs, the first line.
    std::vector<core::ChangedKey> keys;
    try {
      keys = core::changed_keys(all[0], all[static_cast<size_t>(rank)], "");
    } catch (const core::Error&) {
    }
    if (!keys.empty()) {
      const core::ChangedKey& k = keys.front();
      throw core::Error("the ranks' configs differ: " + k.key + " is " + (k.new_value.empty() ? "(unset)" : k.new_value) + " on rank " +
                        std::to_string(rank) + " but " + (k.old_value.empty() ? "(unset)" : k.old_value) + " on rank 0" +
                        (keys.size() > 1 ? " (and " + std::to_string(keys.size() - 1) + " more key(s))" : "") +
                        "; every rank must run the same config");
    }
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

}  // namespace wm::dist
