#include "dist/worker_env.h"

#include <cerrno>
#include <cstdlib>
#include <optional>

#include "core/error.h"

namespace wm::dist {

namespace {

std::optional<int> integer(const EnvLookup& lookup, const char* name, int low, int high) {
  const char* text = lookup(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || errno == ERANGE || value < low || value > high) {
    throw core::Error(std::string("environment variable ") + name + "='" + text + "' is not a whole number from " + std::to_string(low) +
                      " to " + std::to_string(high));
  }
  return static_cast<int>(value);
}

std::string text_or(const EnvLookup& lookup, const char* name, std::string fallback) {
  const char* text = lookup(name);
  return text != nullptr && *text != '\0' ? std::string(text) : fallback;
}

constexpr int kMaxRanks = 1 << 20;

// SLURM_TASKS_PER_NODE's first entry: "4(x2),3" -> 4.
std::optional<int> first_tasks_per_node(const EnvLookup& lookup) {
  const char* text = lookup("SLURM_TASKS_PER_NODE");
  if (text == nullptr || *text == '\0') return std::nullopt;
  const int n = std::atoi(text);
  return n > 0 ? std::optional<int>(n) : std::nullopt;
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  const size_t bracket = nodelist.find('['), comma = nodelist.find(',');
  if (bracket == std::string::npos || (comma != std::string::npos && comma < bracket)) return nodelist.substr(0, comma);
  // "prefix[03-05,9]...": the prefix and the first number of the range, with its zeros.
  const std::string prefix = nodelist.substr(0, bracket);
  const size_t end = nodelist.find_first_of("-,]", bracket + 1);
  return prefix + nodelist.substr(bracket + 1, end - bracket - 1);
}

WorkerEnv worker_env_from(const EnvLookup& lookup) {
  WorkerEnv env;
  if (auto rank = integer(lookup, "RANK", 0, kMaxRanks)) {  // torchrun, wmrun (and anyone who sets its variables)
    env.launcher = "torchrun";
    env.rank = *rank;
    env.world_size = integer(lookup, "WORLD_SIZE", 1, kMaxRanks).value_or(1);
    env.local_rank = integer(lookup, "LOCAL_RANK", 0, kMaxRanks).value_or(0);
    env.local_world_size = integer(lookup, "LOCAL_WORLD_SIZE", 1, kMaxRanks).value_or(1);
    env.group_rank = integer(lookup, "GROUP_RANK", 0, kMaxRanks).value_or(0);
    env.restart_count = integer(lookup, "TORCHELASTIC_RESTART_COUNT", 0, kMaxRanks).value_or(0);
  } else if (auto procid = integer(lookup, "SLURM_PROCID", 0, kMaxRanks)) {
    env.launcher = "slurm";
    env.rank = *procid;
    env.world_size = integer(lookup, "SLURM_NTASKS", 1, kMaxRanks).value_or(1);
    env.local_rank = integer(lookup, "SLURM_LOCALID", 0, kMaxRanks).value_or(0);
    env.local_world_size = first_tasks_per_node(lookup).value_or(1);
    env.group_rank = integer(lookup, "SLURM_NODEID", 0, kMaxRanks).value_or(0);
    env.master_addr = first_slurm_host(text_or(lookup, "SLURM_JOB_NODELIST", env.master_addr));
  } else if (auto mpi_rank = integer(lookup, "OMPI_COMM_WORLD_RANK", 0, kMaxRanks)) {
    env.launcher = "mpirun";
    env.rank = *mpi_rank;
    env.world_size = integer(lookup, "OMPI_COMM_WORLD_SIZE", 1, kMaxRanks).value_or(1);
    env.local_rank = integer(lookup, "OMPI_COMM_WORLD_LOCAL_RANK", 0, kMaxRanks).value_or(0);
    env.local_world_size = integer(lookup, "OMPI_COMM_WORLD_LOCAL_SIZE", 1, kMaxRanks).value_or(1);
    env.group_rank = integer(lookup, "OMPI_COMM_WORLD_NODE_RANK", 0, kMaxRanks).value_or(0);
  } else {
    return env;
  }
  // MASTER_ADDR / MASTER_PORT win over what the launcher implies (srun and mpirun set neither).
  env.master_addr = text_or(lookup, "MASTER_ADDR", env.master_addr);
  env.master_port = integer(lookup, "MASTER_PORT", 1, 65535).value_or(env.master_port);
  if (env.rank >= env.world_size) {
    throw core::Error("rank " + std::to_string(env.rank) + " is outside a world of " + std::to_string(env.world_size) + " (set by " +
                      env.launcher + ")");
  }
  if (env.local_rank >= env.local_world_size) {
    throw core::Error("local rank " + std::to_string(env.local_rank) + " is outside " + std::to_string(env.local_world_size) +
                      " local processes (set by " + env.launcher + ")");
  }
  return env;
}

WorkerEnv worker_env() {
  return worker_env_from([](const char* name) { return std::getenv(name); });
}

}  // namespace wm::dist
