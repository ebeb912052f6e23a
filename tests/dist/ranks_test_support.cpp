#include "dist/ranks_test_support.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "dist/launcher.h"

namespace wm::dist {

void on_ranks(int world, const std::function<void(ProcessGroup&)>& body, const std::function<c10::Device(int)>& device_of) {
  const int port = free_local_port();
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        WorkerEnv env;
        env.rank = rank;
        env.world_size = world;
        env.master_port = port;
        std::shared_ptr<ProcessGroup> group = ProcessGroup::connect(env, device_of ? device_of(rank) : c10::Device(c10::kCPU), std::chrono::seconds(30));
        body(*group);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(rank)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int rank = 0; rank < world; ++rank) EXPECT_EQ(errors[static_cast<size_t>(rank)], "") << "rank " << rank;
}

std::shared_ptr<ProcessGroup> borrowed(ProcessGroup& group) { return std::shared_ptr<ProcessGroup>(&group, [](ProcessGroup*) {}); }

}  // namespace wm::dist
