// wmrun: the torchrun-style launcher (dist/launcher.h). Flags first, then the worker's command:
//   wmrun --nproc-per-node 2 --standalone -- build/wm train dynamics --config configs/demo.yaml
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "dist/launcher.h"

namespace {

const char* kUsage =
    "usage: wmrun [--nproc-per-node N] [--nnodes M --node-rank R --master-addr A --master-port P | --standalone]\n"
    "             [--max-restarts K] [--monitor-interval S] [--log-dir D] [--redirects 0-3] [--tee 0-3] -- PROGRAM [ARGS...]\n"
    "Starts N workers of PROGRAM on this node with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, ...),\n"
    "restarts the whole group when one fails (up to K times; workers resume from their checkpoints), and exits with the\n"
    "first failed worker's code. Logs: D/attempt_<n>/rank_<i>.log.\n";

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  try {
    return wm::dist::run_launcher(wm::dist::parse_launch_args(args));
  } catch (const wm::core::Error& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
}
