// Samples training windows of L consecutive steps from a WindowSource.
//
// Every step is equally likely to end a window (episodes are weighted by their length), so
// windows ending within the first L-1 steps of an episode reach before its start: those
// positions are zero with mask = false, as IRIS does. With weighting = kRecent, a share of
// the windows comes from the newest episodes only, which keeps a growing store focused on
// what the current policy does.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "dataloader/window_source.h"

namespace wm::dataloader {

struct WindowSamplerOptions {
  enum class Weighting { kUniform, kRecent };
  int64_t window = 20;             // L steps (IRIS: 20)
  int64_t batch = 8;               // B windows per batch
  Weighting weighting = Weighting::kUniform;
  double recent_fraction = 0.1;    // kRecent: the newest 10% of episodes ...
  double recent_probability = 0.5; // ... supply half of the windows
  // false: windows start at or after their episode's start (imagination starts want real
  // context); only an episode shorter than the window still pads.
  bool pad_before_start = true;
  uint64_t seed = 0;
  // The data cursor: batch k is drawn from (seed, k) alone, and the first sample() draws
  // batch first_batch. A trainer resumed at step s starts its sampler at batch s and sees
  // the batches the uninterrupted run saw.
  int64_t first_batch = 0;
  // Data parallelism: rank `rank` of `ranks` draws its batch k from (seed, k * ranks + rank), so
  // the ranks together draw one process's sequence of batches, interleaved, none twice.
  int64_t rank = 0;
  int64_t ranks = 1;
};

class WindowSampler {
 public:
  WindowSampler(std::shared_ptr<const WindowSource> source, WindowSamplerOptions options);

  WindowBatch sample();
  // The index of the batch the next sample() draws.
  int64_t next_batch() const { return next_batch_; }
  // Where window b of the last batch came from (episode, index of its last step).
  struct Origin {
    int64_t episode;
    int64_t last_step;
  };
  const std::vector<Origin>& last_origins() const { return origins_; }

 private:
  // `weights`: the source's episode_weights(), fetched once per batch (empty: by length).
  int64_t pick_episode(int64_t first, const std::vector<double>& weights);
  WindowBatch allocate() const;

  std::shared_ptr<const WindowSource> source_;
  WindowSamplerOptions options_;
  std::mt19937_64 rng_;  // reseeded from (seed, batch index) at every sample()
  int64_t next_batch_;
  std::vector<Origin> origins_;
};

// Runs a sampler on a background thread, `depth` batches ahead, so the training step never
// waits for disk reads. An exception on the thread is rethrown by next().
class PrefetchingSampler {
 public:
  PrefetchingSampler(WindowSampler sampler, int depth = 2);
  ~PrefetchingSampler();
  PrefetchingSampler(const PrefetchingSampler&) = delete;
  PrefetchingSampler& operator=(const PrefetchingSampler&) = delete;

  WindowBatch next();

 private:
  void run();

  WindowSampler sampler_;
  size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<WindowBatch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace wm::dataloader
