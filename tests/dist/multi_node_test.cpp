// Two nodes for real on one machine: two network namespaces joined by a veth pair, one wmrun
// per namespace (--nnodes 2, one worker each) reaching rank 0's c10d store and Gloo over that
// link only. The job trains to the end with both nodes agreeing on the step; a link taken down
// mid-run ends both sides with the collective timeout's error, not a hang. Needs root (ip netns);
// skips with the reason where namespaces cannot be made. Nothing leaves the two namespaces.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

std::string wmrun() { return (std::filesystem::path(test::wm_binary()).parent_path() / "wmrun").string(); }

// Namespaces wmn0_<pid>, wmn1_<pid> with 10.231.<n>.1/30 and .2/30 on a veth pair; removed
// (with the pair) when it goes.
class TwoNodes {
 public:
  TwoNodes() {
    const std::string id = std::to_string(::getpid());
    subnet_ = "10.231." + std::to_string(::getpid() % 250) + ".";
    ns_ = {"wmn0_" + id, "wmn1_" + id};
    link_ = {"wmv0_" + id.substr(0, 8), "wmv1_" + id.substr(0, 8)};
    const std::vector<std::string> steps = {
        "ip netns add " + ns_[0], "ip netns add " + ns_[1], "ip link add " + link_[0] + " type veth peer name " + link_[1],
        "ip link set " + link_[0] + " netns " + ns_[0], "ip link set " + link_[1] + " netns " + ns_[1],
        "ip -n " + ns_[0] + " addr add " + address(0) + "/30 dev " + link_[0], "ip -n " + ns_[1] + " addr add " + address(1) + "/30 dev " + link_[1],
        "ip -n " + ns_[0] + " link set lo up", "ip -n " + ns_[1] + " link set lo up", "ip -n " + ns_[0] + " link set " + link_[0] + " up",
        "ip -n " + ns_[1] + " link set " + link_[1] + " up"};
    for (const std::string& step : steps) {
      const auto r = test::run_command(step);
      if (r.exit_code != 0) {
        problem_ = "'" + step + "' failed: " + r.err;
        return;
      }
    }
  }
  ~TwoNodes() {
    test::run_command("ip netns del " + ns_[0]);
    test::run_command("ip netns del " + ns_[1]);
  }
  const std::string& problem() const { return problem_; }
  std::string address(int node) const { return subnet_ + std::to_string(node + 1); }
  // `command` run inside node i's namespace, Gloo on its veth.
  std::string on_node(int node, const std::string& command) const {
    return "ip netns exec " + ns_[static_cast<size_t>(node)] + " env GLOO_SOCKET_IFNAME=" + link_[static_cast<size_t>(node)] + " " + command;
  }
  void link_down() const { test::run_command("ip -n " + ns_[0] + " link set " + link_[0] + " down"); }

 private:
  std::string subnet_, problem_;
  std::vector<std::string> ns_, link_;
};

class MultiNode : public test::TinyDrivingRun {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    nodes_ = std::make_unique<TwoNodes>();
    if (!nodes_->problem().empty()) GTEST_SKIP() << "cannot make network namespaces here: " << nodes_->problem();
    TinyDrivingRun::SetUp();
    const auto dump = test::run_command(test::wm_binary() + " tokens dump --tokenizer " + (dir_ / "tok.ckpt").string() + " --out " +
                                        (dir_ / "tokens").string() + " " + (dir_ / "d" / "episodes").string() + " run.device=cpu");
    ASSERT_EQ(dump.exit_code, 0) << dump.err;
  }
  // Node i's wmrun: one worker, rank 0's store on node 0's address.
  std::string node_command(int node, int steps, double timeout_s) const {
    return nodes_->on_node(node, wmrun() + " --nnodes 2 --node-rank " + std::to_string(node) + " --nproc-per-node 1 --master-addr " +
                                     nodes_->address(0) + " --master-port 29631 --log-dir " + (dir_ / ("node" + std::to_string(node))).string() +
                                     " -- " + test::wm_binary() + " train dynamics --config configs/demo.yaml run.out_dir=" + dir_.path().string() +
                                     " run.name=mn data.path=" + (dir_ / "tokens").string() + kTinyModel +
                                     " dist.timeout_s=" + std::to_string(timeout_s) + " dynamics_train.steps=" + std::to_string(steps));
  }
  // Both nodes at once; `during` runs while they do.
  std::vector<test::CommandResult> run_both(int steps, double timeout_s, const std::function<void()>& during = {}) {
    std::vector<test::CommandResult> results(2);
    std::vector<std::thread> threads;
    for (int node = 0; node < 2; ++node) {
      threads.emplace_back([&, node] { results[static_cast<size_t>(node)] = test::run_command(node_command(node, steps, timeout_s)); });
    }
    if (during) during();
    for (auto& t : threads) t.join();
    return results;
  }
  std::unique_ptr<TwoNodes> nodes_;
};

TEST_F(MultiNode, TwoNodesOverAVethLinkTrainToTheEndAndAgreeOnTheStep) {
  const auto results = run_both(20, 60);
  ASSERT_EQ(results[0].exit_code, 0) << results[0].err;
  ASSERT_EQ(results[1].exit_code, 0) << results[1].err;
  EXPECT_NE(results[0].err.find("rank 0 of 2 (local rank 0 of 1, node 0"), std::string::npos) << results[0].err;
  EXPECT_NE(results[0].err.find("done at step 20"), std::string::npos) << results[0].err;
  // Node 1's worker prints nothing (rank 0 alone does); its log file says where it ended.
  const std::string rank1 = test::read_bytes(dir_ / "mn" / "logs" / "rank1.log");
  EXPECT_NE(rank1.find("rank 1 of 2 (local rank 0 of 1, node 1"), std::string::npos) << rank1;
  EXPECT_NE(rank1.find("done at step 20"), std::string::npos) << rank1;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "mn" / "checkpoints" / "dynamics_000000020.ckpt"));
}

TEST_F(MultiNode, ALinkTakenDownMidRunEndsBothNodesWithinTheTimeout) {
  const double timeout_s = 8;
  std::chrono::steady_clock::time_point down;
  const auto results = run_both(100000, timeout_s, [&] {
    const auto first = dir_ / "mn" / "checkpoints" / "dynamics_000000005.ckpt";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (!std::filesystem::exists(first) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    nodes_->link_down();
    down = std::chrono::steady_clock::now();
  });
  const double ended_after = std::chrono::duration<double>(std::chrono::steady_clock::now() - down).count();
  ASSERT_TRUE(std::filesystem::exists(dir_ / "mn" / "checkpoints" / "dynamics_000000005.ckpt")) << results[0].err;
  for (int node = 0; node < 2; ++node) {
    EXPECT_NE(results[static_cast<size_t>(node)].exit_code, 0) << "node " << node;
    // One line naming the rank and the collective it was in.
    EXPECT_TRUE(std::regex_search(results[static_cast<size_t>(node)].err, std::regex("rank [01] of 2: [^:\\n]+ failed: "))) << results[static_cast<size_t>(node)].err;
  }
  // The timeout, then wmrun's grace period between SIGTERM and SIGKILL, and some slack.
  EXPECT_LT(ended_after, 3 * timeout_s + 10) << "both sides ended " << ended_after << " s after the link went down";
}

}  // namespace
}  // namespace wm
