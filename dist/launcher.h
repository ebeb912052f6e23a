// wmrun, the launcher: starts --nproc-per-node workers on this node with the environment
// torchrun gives its workers, watches them, and on a failure stops the whole group (SIGTERM to
// each worker's process group, SIGKILL after a grace period) and starts it again while
// --max-restarts allows; the workers resume from their newest checkpoint. Workers are executed
// directly (no shell); each one's output goes to <log-dir>/attempt_<n>/rank_<i>.log and, prefixed
// with its rank, to the console.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace wm::dist {

struct LaunchOptions {
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool standalone = false;       // one node, a free port on loopback
  int max_restarts = 0;
  double monitor_interval_s = 0.1;
  double grace_s = 5.0;          // between SIGTERM and SIGKILL when stopping a group
  std::string log_dir = "wmrun_logs";
  bool console = true;           // worker lines on the console too (--redirects 3 turns it off)
  std::vector<std::string> command;  // the worker's argv: program first
};

// argv after "wmrun": torchrun's flags, then the worker's command (after an optional "--").
// Throws wm::core::Error naming a flag that is unknown, unsupported or out of range.
LaunchOptions parse_launch_args(const std::vector<std::string>& args);

// What torchrun sets for local worker `local_rank` of attempt `restart` (added to the
// launcher's own environment): RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK,
// ROLE_RANK, ROLE_WORLD_SIZE, ROLE_NAME, GROUP_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
// TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS, TORCHELASTIC_RUN_ID, and
// OMP_NUM_THREADS (cores / local workers) unless already set.
std::map<std::string, std::string> worker_variables(const LaunchOptions& options, int local_rank, int restart);

// Runs the job to the end: 0 when every worker of an attempt exited 0; otherwise the first
// failed worker's exit code (128 + signal for a signal) after printing a summary naming its
// rank, its code or signal and the last lines of its log.
int run_launcher(LaunchOptions options);

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_local_port();

}  // namespace wm::dist
