// Where a worker process stands in a distributed job, read from what its launcher set:
// torchrun and wmrun (RANK, WORLD_SIZE, LOCAL_RANK, ...), SLURM's srun (SLURM_PROCID, ...) or
// Open MPI's mpirun (OMPI_COMM_WORLD_RANK, ...). A process started by none of them is rank 0
// of a world of 1.
#pragma once

#include <functional>
#include <string>

namespace wm::dist {

struct WorkerEnv {
  int rank = 0;              // among all processes of the job
  int world_size = 1;
  int local_rank = 0;        // among the processes of this node
  int local_world_size = 1;
  int group_rank = 0;        // the node's index (torchrun's GROUP_RANK)
  std::string master_addr = "127.0.0.1";  // where rank 0 hosts the c10d TCPStore
  int master_port = 29500;
  int restart_count = 0;     // TORCHELASTIC_RESTART_COUNT: how often the launcher restarted the group
  std::string launcher;      // "torchrun" (also wmrun), "slurm", "mpirun"; "" for a lone process

  bool distributed() const { return world_size > 1; }
};

// The environment as a function (a test passes its own): name -> value, or nullptr when unset.
using EnvLookup = std::function<const char*(const char* name)>;

// Throws wm::core::Error naming the variable when one is set but not a valid number or out of
// range (RANK=3 with WORLD_SIZE=2).
WorkerEnv worker_env_from(const EnvLookup& lookup);
WorkerEnv worker_env();  // from this process's environment

// SLURM_JOB_NODELIST's first host: "node[03-05,9]" -> "node03", "a,b" -> "a".
std::string first_slurm_host(const std::string& nodelist);

}  // namespace wm::dist
