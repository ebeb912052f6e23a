// wmrun as users run it: the environment its workers get is torchrun's (compared with the real
// torchrun of the project's .venv), a failed worker restarts the whole group, a failure with no
// restarts left is a summary naming the rank and the signal, and no worker outlives it.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "dist/launcher.h"
#include "test_support.h"

namespace wm::dist {
namespace {

std::string wmrun() { return (std::filesystem::path(test::wm_binary()).parent_path() / "wmrun").string(); }

TEST(LaunchArgs, TorchrunsFlagsAndTheWorkerCommandAreParsed) {
  const LaunchOptions o = parse_launch_args({"--nproc_per_node=2", "--nnodes", "2", "--node-rank", "1", "--master-addr", "10.1.1.1",
                                             "--master-port=29411", "--max-restarts", "3", "--log-dir", "logs", "--", "build/wm", "train", "all"});
  EXPECT_EQ(o.nproc_per_node, 2);
  EXPECT_EQ(o.nnodes, 2);
  EXPECT_EQ(o.node_rank, 1);
  EXPECT_EQ(o.master_addr, "10.1.1.1");
  EXPECT_EQ(o.master_port, 29411);
  EXPECT_EQ(o.max_restarts, 3);
  EXPECT_EQ(o.command, (std::vector<std::string>{"build/wm", "train", "all"}));
  const auto v = worker_variables(o, 1, 2);
  EXPECT_EQ(v.at("RANK"), "3");
  EXPECT_EQ(v.at("WORLD_SIZE"), "4");
  EXPECT_EQ(v.at("LOCAL_RANK"), "1");
  EXPECT_EQ(v.at("GROUP_RANK"), "1");
  EXPECT_EQ(v.at("TORCHELASTIC_RESTART_COUNT"), "2");
}

TEST(LaunchArgs, UnsupportedOrBadFlagsAreNamed) {
  EXPECT_NE(test::error_of([] { parse_launch_args({"--rdzv-backend", "c10d", "x"}); }).find("--rdzv-backend is not supported"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_launch_args({"--nproc-per-node", "0", "x"}); }).find("--nproc-per-node '0'"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_launch_args({"--node-rank", "2", "--nnodes", "2", "x"}); }).find("outside --nnodes 2"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_launch_args({"--standalone"}); }).find("no worker command"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_launch_args({"--bogus", "x"}); }).find("unknown flag --bogus"), std::string::npos);
}

// NAME=VALUE lines of `env` output -> map.
std::map<std::string, std::string> variables(const std::string& text) {
  std::map<std::string, std::string> v;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) v[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return v;
}

TEST(Wmrun, ItsWorkersGetTheEnvironmentTorchrunGivesItsWorkers) {
  const std::string torchrun = ".venv/bin/torchrun";
  if (!std::filesystem::exists(torchrun)) GTEST_SKIP() << torchrun << " is absent (make setup installs it)";
  test::TempDir dir;
  // Rank 1 of 2 prints its environment, under each launcher, on fixed ports.
  const std::string print_rank1 = "sh -c 'if [ \"$RANK\" = 1 ]; then env > " + (dir / "%s.env").string() + "; fi'";
  auto command_for = [&](const std::string& name) {
    std::string c = print_rank1;
    c.replace(c.find("%s"), 2, name);
    return c;
  };
  const auto ours = test::run_command(wmrun() + " --nproc-per-node 2 --master-port 29531 --log-dir " + (dir / "logs").string() + " -- " + command_for("wmrun"));
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  const auto theirs = test::run_command("env -u OMP_NUM_THREADS " + torchrun + " --no-python --nproc-per-node 2 --master-port 29532 " + command_for("torchrun"));
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  const auto a = variables(test::read_bytes(dir / "wmrun.env")), b = variables(test::read_bytes(dir / "torchrun.env"));
  for (const char* name : {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE", "ROLE_RANK", "ROLE_WORLD_SIZE",
                           "ROLE_NAME", "MASTER_ADDR", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS", "OMP_NUM_THREADS"}) {
    ASSERT_TRUE(b.count(name)) << "torchrun no longer sets " << name;
    ASSERT_TRUE(a.count(name)) << "wmrun does not set " << name;
    // MASTER_ADDR: torchrun's default resolves the host; OMP_NUM_THREADS: wmrun splits the
    // cores among the local workers where torchrun sets 1 (the same on 2 cores).
    if (std::string(name) != "MASTER_ADDR" && std::string(name) != "OMP_NUM_THREADS") EXPECT_EQ(a.at(name), b.at(name)) << name;
  }
  EXPECT_EQ(a.at("MASTER_PORT"), "29531");
}

TEST(Wmrun, AFailedWorkerRestartsTheGroupWhichThenFinishes) {
  test::TempDir dir;
  // Attempt 0: rank 1 fails once; attempt 1: both finish (TORCHELASTIC_RESTART_COUNT tells them apart).
  const std::string worker = "sh -c 'if [ \"$TORCHELASTIC_RESTART_COUNT\" = 0 ] && [ \"$RANK\" = 1 ]; then exit 3; fi; "
                             "if [ \"$RANK\" = 0 ] && [ \"$TORCHELASTIC_RESTART_COUNT\" = 0 ]; then sleep 30; fi; echo done $RANK'";
  const auto r = test::run_command(wmrun() + " --nproc-per-node 2 --standalone --max-restarts 1 --log-dir " + (dir / "logs").string() + " -- " + worker);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("rank 1 (pid "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("failed first with exit code 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("restarting the group (1 of 1)"), std::string::npos) << r.err;
  EXPECT_NE(test::read_bytes(dir / "logs" / "attempt_1" / "rank_0.log").find("done 0"), std::string::npos);
  EXPECT_NE(r.err.find("[rank 1] done 1"), std::string::npos) << r.err;
}

TEST(Wmrun, AKilledWorkerWithNoRestartsLeftEndsTheJobNamingRankAndSignalAndLeavesNoOrphan) {
  test::TempDir dir;
  const std::string marker = "wmrun_orphan_probe_" + std::to_string(::getpid());
  // Rank 0 kills itself; rank 1 (and a child it started) would run for a minute.
  const std::string worker = "sh -c 'if [ \"$RANK\" = 0 ]; then sleep 0.5; kill -9 $$; fi; sh -c \"sleep 60; : " + marker + "\" & wait'";
  const auto r = test::run_command(wmrun() + " --nproc-per-node 2 --standalone --max-restarts 0 --log-dir " + (dir / "logs").string() + " -- " + worker);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL) << r.err;
  EXPECT_NE(r.err.find("rank 0 (pid"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("signal SIGKILL"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no restarts left"), std::string::npos) << r.err;
  // "[w]..." matches the marker but not this pgrep's own shell, whose command line holds "[w]".
  const auto left = test::run_command("pgrep -f '[w]" + marker.substr(1) + "'");
  EXPECT_NE(left.exit_code, 0) << "a worker's process outlived wmrun: " << left.out;
}

TEST(Wmrun, AWorkerProgramThatDoesNotExistIsOneLineAndNonZero) {
  test::TempDir dir;
  const auto r = test::run_command(wmrun() + " --standalone --log-dir " + (dir / "logs").string() + " -- /nonexistent/worker");
  EXPECT_EQ(r.exit_code, 127) << r.err;
  EXPECT_NE(r.err.find("cannot run '/nonexistent/worker'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wm::dist
