#include "dist/process_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

#include "core/error.h"

namespace wm::dist {

namespace {

// c10d reports a timeout or a lost peer as c10::Error (DistBackendError and friends), Gloo's
// transport as its own exceptions (gloo::IoException): one line naming what this rank was doing.
template <class F>
auto named(const std::string& what, const WorkerEnv& env, F&& f) {
  const std::string doing = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + ": " + what + " failed: ";
  try {
    return f();
  } catch (const core::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw core::Error(doing + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw core::Error(doing + e.what());
  }
}

class Pending final : public PendingReduction {
 public:
  Pending(c10::intrusive_ptr<c10d::Work> work, const WorkerEnv& env) : work_(std::move(work)), env_(env) {}
  void wait() override {
    named("an all-reduce", env_, [&] { return work_->wait(); });
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  WorkerEnv env_;
};

std::shared_ptr<::gloo::transport::Device> gloo_device(const WorkerEnv& env) {
  // GLOO_SOCKET_IFNAME as in PyTorch; on one machine loopback; elsewhere the address the
  // host name resolves to.
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface != nullptr && *interface != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost") return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

class C10dProcessGroup final : public ProcessGroup {
 public:
  C10dProcessGroup(const WorkerEnv& env, c10::Device device, std::chrono::milliseconds timeout) : env_(env), device_(device), timeout_(timeout) {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0;
    store_options.numWorkers = static_cast<size_t>(env.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    const std::string where = "the c10d store at " + env.master_addr + ":" + std::to_string(env.master_port);
    store_ = named(env.rank == 0 ? "hosting " + where + " (is the port in use? --standalone picks a free one)" : "joining " + where, env,
                   [&] { return c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options); });
    // Each restart of the group gets its own keys.
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("wm/" + std::to_string(env.restart_count), store_);
    if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      backend_ = named("starting NCCL", env, [&] { return c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.world_size, options); });
#else
      throw core::Error("this build of libtorch has no NCCL: distributed training on CUDA is not available");
#endif
    } else {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(named("opening a Gloo device", env, [&] { return gloo_device(env); }));
      backend_ = named("starting Gloo", env, [&] { return c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env.rank, env.world_size, options); });
    }
  }

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }
  c10::Device device() const override { return device_; }

  std::unique_ptr<PendingReduction> all_reduce_sum_async(at::Tensor& tensor) override {
    std::vector<at::Tensor> tensors = {tensor};
    auto work = named("starting an all-reduce", env_, [&] { return backend_->allreduce(tensors, c10d::AllreduceOptions{}); });
    return std::make_unique<Pending>(std::move(work), env_);
  }

  void broadcast(std::vector<at::Tensor>& tensors, int root) override {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    for (at::Tensor& t : tensors) {
      std::vector<at::Tensor> one = {t};
      named("a broadcast from rank " + std::to_string(root), env_, [&] { return backend_->broadcast(one, options)->wait(); });
    }
  }

  void barrier() override {
    named("a barrier", env_, [&] { return backend_->barrier(c10d::BarrierOptions{})->wait(); });
  }

  std::vector<std::string> all_gather_text(const std::string& key, const std::string& text) override {
    return named("exchanging " + key, env_, [&] {
      // Numbered per call (every rank calls in the same order): a rank that is a call ahead
      // never overwrites what a slower one has still to read.
      const std::string prefix = "wm/" + std::to_string(env_.restart_count) + "/text/" + std::to_string(text_calls_++) + "/" + key + "/";
      store_->set(prefix + std::to_string(env_.rank), std::vector<uint8_t>(text.begin(), text.end()));
      std::vector<std::string> all;
      for (int r = 0; r < env_.world_size; ++r) {
        const std::vector<uint8_t> bytes = store_->get(prefix + std::to_string(r));
        all.emplace_back(bytes.begin(), bytes.end());
      }
      return all;
    });
  }

 private:
  WorkerEnv env_;
  c10::Device device_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  int64_t text_calls_ = 0;
};

}  // namespace

std::shared_ptr<ProcessGroup> ProcessGroup::connect(const WorkerEnv& env, c10::Device device, std::chrono::milliseconds timeout) {
  return std::make_shared<C10dProcessGroup>(env, device, timeout);
}

}  // namespace wm::dist
