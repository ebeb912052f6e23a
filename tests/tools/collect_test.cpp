// `wm collect` as a user runs it: episodes on disk, a kill mid-run, signals and workers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "dataloader/episode_store.h"
#include "test_support.h"

namespace wm {
namespace {

using test::spawn_wm;
using test::wait_for;

// Child processes of `parent`, from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == parent) children.push_back(std::stoi(name));
  }
  return children;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(Collect, WritesEpisodesNumpyReadsAndTheManifestListsThem) {
  test::TempDir dir;
  const auto r = test::run_command(test::wm_binary() + " collect --config configs/demo.yaml --steps 240 --policy expert run.out_dir=" +
                                   dir.path().string() + " run.name=c env.max_steps=60 env.num_envs=2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  dataloader::EpisodeStore store(dir / "c" / "episodes", dataloader::EpisodeStore::Mode::kRead);
  EXPECT_EQ(store.num_episodes(), 4);  // 2 envs x 120 steps / 60-step episodes
  const auto check = test::run_command(test::venv_python() + " tests/python/npy_check.py read " +
                                       (dir / "c" / "episodes" / "ep_000003" / "frames.npy").string());
  ASSERT_EQ(check.exit_code, 0) << check.err;
  const auto info = nlohmann::json::parse(check.out);
  EXPECT_EQ(info["shape"], nlohmann::json::array({60, 64, 64, 3}));
  EXPECT_TRUE(std::filesystem::exists(dir / "c" / "config.yaml"));
  EXPECT_TRUE(std::filesystem::exists(dir / "c" / "logs" / "rank0.log"));
}

TEST(Collect, TwoCollectorsIntoTheSameRunBothKeepAllTheirEpisodes) {
  test::TempDir dir;
  // Issue 16: the second writer used to abort and lose its episodes, and each one's start-up
  // deleted the other's episode in progress. Both now run to the end, side by side.
  const std::string collect = test::wm_binary() + " collect --config configs/demo.yaml --steps 6000 --policy random run.out_dir=" +
                              dir.path().string() + " run.name=shared env.max_steps=30 env.num_envs=3";
  const auto r = test::run_command("(" + collect + " run.seed=1 & a=$!; " + collect + " run.seed=2 & b=$!; wait $a; ra=$?; wait $b; rb=$?; echo $ra $rb)");
  ASSERT_EQ(r.out, "0 0\n") << r.err;
  dataloader::EpisodeStore store(dir / "shared" / "episodes", dataloader::EpisodeStore::Mode::kRead);
  // Random driving ends episodes early; each collector stores every episode it completes.
  int64_t completed = 0;
  for (size_t at = r.err.find(" episodes completed"); at != std::string::npos; at = r.err.find(" episodes completed", at + 1)) {
    size_t start = r.err.rfind(' ', at - 1) + 1;
    if (r.err[start] == '[') start = r.err.find(']', start) + 2;
    completed += std::stoll(r.err.substr(start, at - start));
  }
  EXPECT_GT(completed, 0) << r.err;
  EXPECT_EQ(store.num_episodes(), completed) << r.err;
  const auto manifest = nlohmann::json::parse(test::read_bytes(dir / "shared" / "episodes" / "manifest.json"));
  ASSERT_EQ(static_cast<int64_t>(manifest["episodes"].size()), store.num_episodes());
  for (int64_t e = 0; e < store.num_episodes(); ++e) {
    EXPECT_NEAR(manifest["episodes"][e]["return"].get<double>(), store.load(e).rewards.sum().item<double>(), 1e-4) << "episode " << e;
  }
}

TEST(Collect, AWriterKilledMidRunLeavesOnlyCompleteEpisodes) {
  test::TempDir dir;
  const auto store_dir = dir / "k" / "episodes";
  const pid_t pid = spawn_wm({"collect", "--config", "configs/demo.yaml", "--steps", "100000000", "run.out_dir=" + dir.path().string(),
                              "run.name=k", "env.max_steps=40", "env.num_envs=8", "env.height=96", "env.width=96"});
  ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(store_dir / "ep_000004"); }, 30));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);

  dataloader::EpisodeStore reader(store_dir, dataloader::EpisodeStore::Mode::kRead);
  ASSERT_GE(reader.num_episodes(), 5);
  for (int64_t e = 0; e < reader.num_episodes(); ++e) {
    EXPECT_EQ(reader.load(e).length(), 40) << e;  // every visible episode is whole
  }
  dataloader::EpisodeStore writer(store_dir, dataloader::EpisodeStore::Mode::kAppend);
  for (const auto& entry : std::filesystem::directory_iterator(store_dir)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
  std::ifstream in(store_dir / "manifest.json");
  EXPECT_EQ(nlohmann::json::parse(in)["episodes"].size(), static_cast<size_t>(writer.num_episodes()));
}

TEST(Collect, NoGymWorkerOrItsFilesSurviveSigtermSigintOrSigkill) {
  for (int signal : {SIGTERM, SIGINT, SIGKILL}) {
    test::TempDir dir;
    const pid_t pid = spawn_wm({"collect", "--config", "configs/demo.yaml", "--steps", "100000000", "run.out_dir=" + dir.path().string(),
                                "env.id=ALE/Pong-v5", "env.num_envs=2"});
    std::vector<pid_t> workers;
    ASSERT_TRUE(wait_for([&] { workers = children_of(pid); return workers.size() == 2; }, 30));
    ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(dir / "demo" / "metrics.jsonl"); }, 30));
    ::kill(pid, signal);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (pid_t worker : workers) {
      EXPECT_TRUE(wait_for([&] { return !alive(worker); }, 5)) << "worker " << worker << " outlived wm after signal " << signal;
    }
    // Nothing of the workers stays in the temporary folder (their stderr files had no name).
    const std::string prefix = "wm_gym_" + std::to_string(pid) + "_";
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::temp_directory_path())) {
      EXPECT_NE(entry.path().filename().string().rfind(prefix, 0), 0u) << entry.path() << " left after signal " << signal;
    }
  }
}

TEST(Collect, ANegativeStepCountAndAMissingBenchVideoAreShortErrors) {
  const auto r = test::run_command(test::wm_binary() + " collect --config configs/demo.yaml --steps -1 run.out_dir=/tmp/wm_unused");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("must be 0 or more, got -1"), std::string::npos) << r.err;
  EXPECT_LT(r.err.size(), 200u) << r.err;
  const auto decode = test::run_command(test::wm_binary() + " bench decode --video /tmp/wm_no_such_video.mp4");
  EXPECT_NE(decode.exit_code, 0);
  EXPECT_NE(decode.err.find("--video /tmp/wm_no_such_video.mp4 does not exist"), std::string::npos) << decode.err;
  const auto threads = test::run_command(test::wm_binary() + " bench gemm --threads 100000");  // used to die with SIGSEGV
  EXPECT_EQ(threads.exit_code, 105) << "CLI11's validation error, not a signal: " << threads.err;
  EXPECT_NE(threads.err.find("--threads"), std::string::npos) << threads.err;
  EXPECT_LT(threads.err.size(), 200u) << threads.err;
}

TEST(Collect, UnknownPolicyAndExpertOutsideDrivingAreOneLineErrors) {
  const auto r = test::run_command(test::wm_binary() + " collect --config configs/demo.yaml --steps 10 --policy genius run.out_dir=/tmp/wm_unused");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("collect.policy 'genius'"), std::string::npos) << r.err;
  const auto pong = test::run_command(test::wm_binary() + " collect --config configs/demo.yaml --steps 10 --policy expert env.id=ALE/Pong-v5 env.num_envs=1 run.out_dir=/tmp/wm_unused");
  EXPECT_NE(pong.exit_code, 0);
  EXPECT_NE(pong.err.find("driving game only"), std::string::npos) << pong.err;
}

}  // namespace
}  // namespace wm
