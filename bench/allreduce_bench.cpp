#include "bench/allreduce_bench.h"

#include <spdlog/spdlog.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "core/build_info.h"
#include "core/device.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/run_dir.h"
#include "dist/bucketed_all_reduce.h"
#include "dist/launcher.h"
#include "dist/process_group.h"
#include "dist/worker_env.h"
#include "dynamics/dynamics_trainer.h"

namespace wm::bench {

namespace {

using Clock = std::chrono::steady_clock;

// The naive data parallelism the buckets are measured against: after backward, one blocking
// all-reduce per parameter, nothing overlapped.
class PerParameterAllReduce final : public core::GradientSync {
 public:
  PerParameterAllReduce(std::shared_ptr<dist::ProcessGroup> group, std::vector<at::Tensor> parameters)
      : group_(std::move(group)), parameters_(std::move(parameters)) {}
  void before_backward(bool) override {}
  void finish() override {
    torch::NoGradGuard no_grad;
    for (auto& p : parameters_) {
      if (!p.grad().defined()) continue;
      at::Tensor grad = p.mutable_grad();
      group_->all_reduce_sum(grad);
      grad.div_(group_->world_size());
    }
  }

 private:
  std::shared_ptr<dist::ProcessGroup> group_;
  std::vector<at::Tensor> parameters_;
};

// The bucketed all-reduce, timed: when this rank's backward ended (steady_clock, which every
// process of one machine shares) and how long finish() then waited. Part of that wait is the
// slower peer still in its backward pass, not communication: measure_exposed() takes it out.
class TimedSync final : public core::GradientSync {
 public:
  explicit TimedSync(std::unique_ptr<core::GradientSync> inner) : inner_(std::move(inner)) {}
  void before_backward(bool last) override { inner_->before_backward(last); }
  void finish() override {
    const auto backward_done = Clock::now();
    inner_->finish();
    backward_done_s.push_back(std::chrono::duration<double>(backward_done.time_since_epoch()).count());
    wait_s.push_back(std::chrono::duration<double>(Clock::now() - backward_done).count());
  }
  std::vector<double> backward_done_s, wait_s;

 private:
  std::unique_ptr<core::GradientSync> inner_;
};

// Seconds per step the all-reduces still held the step up after backward, averaged over the
// steps and the ranks: each rank's wait less the time until the last rank's backward ended.
double measure_exposed(dist::ProcessGroup& group, const TimedSync& timed) {
  const auto steps = static_cast<int64_t>(timed.wait_s.size());
  at::Tensor done = torch::zeros({group.world_size(), steps}, torch::kFloat64);
  done[group.rank()] = torch::tensor(timed.backward_done_s, torch::kFloat64);
  group.all_reduce_sum(done);  // every rank's row: [ranks, steps]
  const at::Tensor last_done = std::get<0>(done.max(0));
  const at::Tensor waited_for_peer = (last_done - done[group.rank()]).clamp_min(0);
  at::Tensor exposed = (torch::tensor(timed.wait_s, torch::kFloat64) - waited_for_peer).clamp_min(0).mean().reshape({1});
  group.all_reduce_sum(exposed);
  return exposed.item<double>() / group.world_size();
}

dynamics::DynamicsOptions model_options(bool iris) {
  dynamics::DynamicsOptions o;
  o.layers = iris ? 10 : 4;
  o.width = iris ? 256 : 128;
  o.heads = 4;
  o.context_steps = iris ? 20 : 10;
  o.tokens_per_frame = iris ? 64 : 16;
  o.vocab_size = iris ? 1024 : 512;
  o.num_actions = 9;
  return o;
}

// The device rank `local_rank` trains on: CUDA ranks take one GPU each.
c10::Device worker_device(const std::string& spec, int local_rank) {
  const c10::Device device = core::resolve_device(spec);
  return device.is_cuda() ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_rank)) : device;
}

// Waits for the device's queued work, so that a clock read after it has seen the work done.
void synchronize(const c10::Device& device) {
  if (device.is_cuda()) c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->synchronizeDevice(device.index());
}

dynamics::DynamicsBatch random_batch(const dynamics::DynamicsOptions& o, int64_t batch) {
  const int64_t L = o.context_steps;
  return {torch::randint(0, o.vocab_size, {batch, L, o.tokens_per_frame}, torch::kInt64),
          torch::randint(0, o.num_actions, {batch, L}, torch::kInt64), torch::zeros({batch, L}),
          torch::zeros({batch, L}, torch::kUInt8), torch::ones({batch, L}, torch::kBool)};
}

std::string self_program() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw core::Error("wm bench allreduce: cannot find this program (/proc/self/exe): " + ec.message());
  return path.string();
}

}  // namespace

void run_allreduce_worker(const AllreduceBenchOptions& options, const std::string& out) {
  const dist::WorkerEnv env = dist::worker_env();
  const int threads = core::configure_threads(0, env.local_world_size);
  const c10::Device device = worker_device(options.device, env.local_rank);
  if (device.is_cuda()) c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(device);
  const core::Precision precision = options.precision == "bf16" ? core::Precision::kBf16 : core::Precision::kFp32;
  std::shared_ptr<dist::ProcessGroup> group;
  if (env.distributed() || device.is_cuda()) {
    group = dist::ProcessGroup::connect(env, device, std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000)));
  }
  const dynamics::DynamicsOptions o = model_options(options.iris);
  torch::manual_seed(0);  // the same weights on every rank
  dynamics::DynamicsTrainOptions train;
  train.batch_size = options.batch;
  dynamics::DynamicsTrainer trainer(dynamics::WorldModel(o), train, device, precision);
  torch::manual_seed(1 + env.rank);  // each rank its own windows
  const dynamics::DynamicsBatch batch = random_batch(o, options.batch);
  const std::vector<at::Tensor> parameters = trainer.model()->parameters();
  int64_t numel = 0;
  for (const auto& p : parameters) numel += p.numel();

  // Seconds per step (the caller runs a warm-up step first).
  auto seconds_per_step = [&] {
    synchronize(device);
    if (group) group->barrier();
    const auto start = Clock::now();
    for (int64_t s = 0; s < options.steps; ++s) trainer.train_step(batch);
    synchronize(device);
    return std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(options.steps);
  };
  nlohmann::ordered_json figures = {{"world_size", env.world_size}, {"threads", threads}, {"parameters", numel},
                                    {"device", device.str()}, {"backend", device.is_cuda() ? "nccl" : "gloo"},
                                    {"tokens_per_step", options.batch * o.context_steps * o.positions_per_step()}};
  if (!group) {
    trainer.train_step(batch);
    figures["step_s"] = seconds_per_step();
  } else {
    const auto bucket_bytes = static_cast<int64_t>(options.bucket_mb * (1 << 20));
    dist::BucketedAllReduce* bucketed = nullptr;
    TimedSync* timed = nullptr;
    trainer.set_gradient_sync([&](const std::vector<at::Tensor>& p) {
      auto made = std::make_unique<dist::BucketedAllReduce>(group, p, bucket_bytes);
      bucketed = made.get();
      auto wrapped = std::make_unique<TimedSync>(std::move(made));
      timed = wrapped.get();
      return wrapped;
    });
    trainer.train_step(batch);  // warm-up (its wait is not counted)
    timed->backward_done_s.clear();
    timed->wait_s.clear();
    const dist::GradientSyncTimes before = bucketed->times();
    figures["step_s"] = seconds_per_step();
    const dist::GradientSyncTimes after = bucketed->times();
    figures["buckets"] = bucketed->buckets();
    const double exposed_on_host = measure_exposed(*group, *timed);  // before the sync (and `timed`) is replaced
    // On a GPU finish() only queues the wait on the stream: the host's clocks cannot see it.
    // There the exposed time is the step's cost over the same step without communication.
    trainer.set_gradient_sync(core::local_gradients());
    trainer.train_step(batch);
    figures["local_step_s"] = seconds_per_step();
    figures["exposed_s"] = device.is_cuda() ? std::max(0.0, figures["step_s"].get<double>() - figures["local_step_s"].get<double>())
                                            : exposed_on_host;
    figures["launched_in_backward"] = after.buckets_launched_in_backward - before.buckets_launched_in_backward;
    trainer.set_gradient_sync([&](const std::vector<at::Tensor>& p) { return std::make_unique<PerParameterAllReduce>(group, p); });
    trainer.train_step(batch);
    figures["naive_step_s"] = seconds_per_step();
    // The same bytes all-reduced alone: what the buckets cost with nothing to hide behind.
    std::vector<at::Tensor> flats;
    for (int64_t left = numel; left > 0; left -= bucket_bytes / 4) {
      flats.push_back(torch::ones({std::min(left, bucket_bytes / 4) + 1}, torch::TensorOptions().device(device)));
    }
    synchronize(device);
    group->barrier();
    const auto start = Clock::now();
    for (int64_t s = 0; s < options.steps; ++s) {
      std::vector<std::unique_ptr<dist::PendingReduction>> pending;
      for (auto& flat : flats) pending.push_back(group->all_reduce_sum_async(flat));
      for (auto& p : pending) p->wait();
    }
    synchronize(device);
    figures["communication_s"] = std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(options.steps);
  }
  if (env.rank == 0) core::write_file_atomic(out, figures.dump() + "\n");
}

std::vector<BenchRecord> run_allreduce_bench(const AllreduceBenchOptions& options) {
  const std::string program = self_program();
  const auto scratch = std::filesystem::temp_directory_path() / ("wm_bench_allreduce_" + std::to_string(::getpid()));
  core::ensure_directory(scratch);
  std::map<int, nlohmann::json> jobs;
  for (const int world : options.ranks) {
    const auto out = scratch / ("ranks_" + std::to_string(world) + ".json");
    dist::LaunchOptions launch;
    launch.nproc_per_node = world;
    launch.standalone = true;
    launch.console = false;
    launch.log_dir = (scratch / ("logs_" + std::to_string(world))).string();
    launch.command = {program, "bench", "allreduce", "--worker", out.string(), "--steps", std::to_string(options.steps),
                      "--batch", std::to_string(options.batch), "--bucket-mb", std::to_string(options.bucket_mb),
                      "--timeout", std::to_string(options.timeout_s), "--device", options.device, "--precision", options.precision};
    if (options.iris) launch.command.push_back("--iris");
    spdlog::info("wm bench allreduce: {} rank(s), {} timed steps per variant", world, options.steps);
    if (const int code = dist::run_launcher(launch); code != 0) {
      throw core::Error("wm bench allreduce: the job of " + std::to_string(world) + " rank(s) failed (exit " + std::to_string(code) +
                        "); its logs: " + launch.log_dir);
    }
    jobs[world] = nlohmann::json::parse(core::read_file(out));
  }
  std::filesystem::remove_all(scratch);

  const core::BuildInfo info = core::build_info();
  std::vector<BenchRecord> records;
  auto context = [&](const nlohmann::json& job) {
    nlohmann::ordered_json c = {{"model", options.iris ? "iris" : "demo"},
                                {"ranks", job["world_size"]},
                                {"threads_per_rank", job["threads"]},
                                {"cores", core::usable_cores()},
                                {"batch_per_rank", options.batch},
                                {"parameters", job["parameters"]},
                                {"backend", job["backend"]},
                                {"device", job["device"]},
                                {"precision", options.precision},
                                {"cpu", info.cpu_capability}};
    return c;
  };
  const nlohmann::json* one = jobs.count(1) ? &jobs[1] : nullptr;
  for (const auto& [world, job] : jobs) {
    const double tokens_per_s = world * job["tokens_per_step"].get<double>() / job["step_s"].get<double>();
    BenchRecord tokens{.bench = "allreduce", .metric = "train_tokens_per_s_" + std::to_string(world) + "_ranks", .value = tokens_per_s,
                       .context = context(job)};
    if (one && world != 1) {
      tokens.baseline = "1_rank";
      tokens.baseline_value = (*one)["tokens_per_step"].get<double>() / (*one)["step_s"].get<double>();
    }
    records.push_back(tokens);
    if (!job.contains("naive_step_s")) continue;  // a one-rank job on the CPU has no group
    nlohmann::ordered_json c = context(job);
    c["buckets"] = job["buckets"];
    records.push_back({.bench = "allreduce", .metric = "steps_per_s_bucketed_" + std::to_string(world) + "_ranks",
                       .value = 1.0 / job["step_s"].get<double>(), .baseline = "naive_per_parameter",
                       .baseline_value = 1.0 / job["naive_step_s"].get<double>(), .context = c});
    const double communication = job["communication_s"].get<double>(), exposed = job["exposed_s"].get<double>();
    c["communication_s"] = communication;
    c["exposed_s"] = exposed;
    records.push_back({.bench = "allreduce", .metric = "hidden_communication_fraction_" + std::to_string(world) + "_ranks",
                       .value = std::clamp(1.0 - exposed / communication, 0.0, 1.0), .context = c});
  }
  return records;
}

}  // namespace wm::bench
