// A worker finds its rank and world from whichever launcher started it: torchrun / wmrun,
// SLURM's srun or Open MPI's mpirun.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "dist/worker_env.h"
#include "test_support.h"

namespace wm::dist {
namespace {

WorkerEnv env_of(const std::map<std::string, std::string>& vars) {
  return worker_env_from([&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(WorkerEnv, ALoneProcessIsRankZeroOfOne) {
  const WorkerEnv env = env_of({});
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.launcher, "");
}

TEST(WorkerEnv, TorchrunsVariablesGiveRankWorldAndMaster) {
  const WorkerEnv env = env_of({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}, {"GROUP_RANK", "1"},
                                {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29400"}, {"TORCHELASTIC_RESTART_COUNT", "2"}});
  EXPECT_EQ(env.launcher, "torchrun");
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.group_rank, 1);
  EXPECT_EQ(env.master_addr, "10.0.0.1");
  EXPECT_EQ(env.master_port, 29400);
  EXPECT_EQ(env.restart_count, 2);
  EXPECT_TRUE(env.distributed());
}

TEST(WorkerEnv, SlurmsVariablesGiveRankWorldAndTheFirstHostAsMaster) {
  const WorkerEnv env = env_of({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}, {"SLURM_TASKS_PER_NODE", "4(x2)"},
                                {"SLURM_NODEID", "1"}, {"SLURM_JOB_NODELIST", "gpu[07-08]"}});
  EXPECT_EQ(env.launcher, "slurm");
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 4);
  EXPECT_EQ(env.group_rank, 1);
  EXPECT_EQ(env.master_addr, "gpu07");
  EXPECT_EQ(first_slurm_host("node[3,5-9]"), "node3");
  EXPECT_EQ(first_slurm_host("alpha,beta"), "alpha");
  EXPECT_EQ(first_slurm_host("solo"), "solo");
}

TEST(WorkerEnv, OpenMpisVariablesGiveRankAndWorld) {
  const WorkerEnv env = env_of({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}, {"MASTER_ADDR", "node1"}});
  EXPECT_EQ(env.launcher, "mpirun");
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.world_size, 2);
  EXPECT_EQ(env.master_addr, "node1");
}

TEST(WorkerEnv, ABadValueIsNamedWithItsVariable) {
  EXPECT_NE(test::error_of([] { env_of({{"RANK", "one"}}); }).find("RANK='one'"), std::string::npos);
  EXPECT_NE(test::error_of([] { env_of({{"RANK", "0"}, {"MASTER_PORT", "70000"}}); }).find("MASTER_PORT='70000'"), std::string::npos);
  EXPECT_NE(test::error_of([] { env_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}); }).find("rank 2 is outside a world of 2"), std::string::npos);
}

}  // namespace
}  // namespace wm::dist
