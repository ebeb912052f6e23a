#include "dataloader/window_sampler.h"

#include <torch/torch.h>

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/seed_mix.h"

namespace wm::dataloader {

WindowSampler::WindowSampler(std::shared_ptr<const WindowSource> source, WindowSamplerOptions options)
    : source_(std::move(source)), options_(options), rng_(options.seed), next_batch_(options.first_batch) {
  if (options_.ranks < 1 || options_.rank < 0 || options_.rank >= options_.ranks) {
    throw core::Error("window sampler: rank " + std::to_string(options_.rank) + " of " + std::to_string(options_.ranks) + " is not a rank of the job");
  }
  if (options_.first_batch < 0) throw core::Error("window sampler: first_batch = " + std::to_string(options_.first_batch) + " is negative");
  if (options_.window < 1 || options_.batch < 1) {
    throw core::Error("window sampler: window (" + std::to_string(options_.window) + ") and batch (" +
                      std::to_string(options_.batch) + ") must be at least 1");
  }
}

// An episode among [first, N), chosen with probability proportional to its length (or to
// the weight the source gives it).
int64_t WindowSampler::pick_episode(int64_t first, const std::vector<double>& weights) {
  const int64_t n = source_->num_episodes();
  if (!weights.empty()) {
    if (static_cast<int64_t>(weights.size()) != n || std::accumulate(weights.begin() + first, weights.end(), 0.0) <= 0) {
      throw core::Error("window sampler: the source weighs " + std::to_string(weights.size()) + " of " + std::to_string(n) +
                        " episodes, or none above 0");
    }
    std::discrete_distribution<int64_t> pick(weights.begin() + first, weights.end());
    return first + pick(rng_);
  }
  int64_t total = 0;
  for (int64_t i = first; i < n; ++i) total += source_->episode_length(i);
  int64_t step = std::uniform_int_distribution<int64_t>(0, total - 1)(rng_);
  for (int64_t i = first; i < n; ++i) {
    step -= source_->episode_length(i);
    if (step < 0) return i;
  }
  return n - 1;
}

WindowBatch WindowSampler::allocate() const {
  const int64_t b = options_.batch, l = options_.window;
  std::vector<int64_t> obs_shape = {b, l};
  for (int64_t d : source_->observation_shape()) obs_shape.push_back(d);
  WindowBatch batch;
  batch.observations = torch::zeros(obs_shape, torch::TensorOptions().dtype(source_->observation_dtype()));
  batch.actions = source_->action_dim() == 0 ? torch::zeros({b, l}, torch::kInt64)
                                             : torch::zeros({b, l, source_->action_dim()}, torch::kFloat32);
  batch.rewards = torch::zeros({b, l}, torch::kFloat32);
  batch.dones = torch::zeros({b, l}, torch::kUInt8);
  batch.mask = torch::zeros({b, l}, torch::kBool);
  return batch;
}

WindowBatch WindowSampler::sample() {
  const int64_t n = source_->num_episodes();
  if (n == 0) throw core::Error("window sampler: the source has no episodes yet");
  rng_.seed(core::seed_for(options_.seed, static_cast<uint64_t>(next_batch_++ * options_.ranks + options_.rank)));
  WindowBatch batch = allocate();
  const int64_t l = options_.window;
  const int64_t recent_first =
      n - std::max<int64_t>(1, static_cast<int64_t>(std::ceil(options_.recent_fraction * static_cast<double>(n))));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const std::vector<double> weights = source_->episode_weights();
  origins_.clear();
  for (int64_t row = 0; row < options_.batch; ++row) {
    const bool recent = options_.weighting == WindowSamplerOptions::Weighting::kRecent &&
                        unit(rng_) < options_.recent_probability;
    const int64_t episode = pick_episode(recent ? recent_first : 0, weights);
    const int64_t length = source_->episode_length(episode);
    // The window covers steps [last - l + 1, last]; positions before step 0 stay padding.
    const int64_t earliest = options_.pad_before_start ? 0 : std::min(l - 1, length - 1);
    const int64_t last = std::uniform_int_distribution<int64_t>(earliest, length - 1)(rng_);
    const int64_t first = last - l + 1;
    const int64_t pad = std::max<int64_t>(0, -first);
    source_->read_steps(episode, first + pad, l - pad, batch, row, pad);
    batch.mask[row].narrow(0, pad, l - pad).fill_(true);
    origins_.push_back({episode, last});
  }
  return batch;
}

PrefetchingSampler::PrefetchingSampler(WindowSampler sampler, int depth)
    : sampler_(std::move(sampler)), depth_(static_cast<size_t>(std::max(1, depth))) {
  thread_ = std::thread([this] { run(); });
}

PrefetchingSampler::~PrefetchingSampler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void PrefetchingSampler::run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || ready_.size() < depth_; });
      if (stop_) return;
    }
    try {
      WindowBatch batch = sampler_.sample();
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      changed_.notify_all();
      return;
    }
    changed_.notify_all();
  }
}

WindowBatch PrefetchingSampler::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || error_ != nullptr; });
  if (ready_.empty()) std::rethrow_exception(error_);
  WindowBatch batch = std::move(ready_.front());
  ready_.pop_front();
  changed_.notify_all();
  return batch;
}

}  // namespace wm::dataloader
