#include "dataloader/token_dump.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

#include "core/bounded_queue.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "dataloader/action_sidecar.h"
#include "dataloader/episode_store.h"

namespace wm::dataloader {

namespace {

// One source to tokenize: a video file / image folder, or one episode of a store.
struct DumpUnit {
  std::string name;
  std::filesystem::path source;
  std::shared_ptr<const EpisodeStore> store;  // set for store episodes
  int64_t episode = -1;
  FrameSourceInfo info;                       // videos: filled when planning
};

// A batch of decoded frames of one unit, in order; `last` closes the unit.
struct DecodedBatch {
  size_t unit = 0;
  at::Tensor frames;  // uint8 [b, H, W, 3]
  bool last = false;
  std::string error;  // set: the unit failed here; nothing more comes for it
};

// What a unit carries besides frames, set by its decoder before its first batch is queued.
struct UnitExtras {
  ShardMeta meta;
  at::Tensor actions, rewards, dones;  // undefined when the source has no actions
};

// Finds the units under the inputs: store episodes, and video files / image folders.
std::vector<DumpUnit> find_units(const std::vector<std::filesystem::path>& inputs, const std::string& glob) {
  std::vector<DumpUnit> units;
  for (std::filesystem::path input : inputs) {
    input = input.lexically_normal();
    if (input.filename().empty()) input = input.parent_path();  // "runs/x/episodes/" names the folder
    if (!std::filesystem::exists(input)) throw core::Error(input.string() + ": no such file or folder");
    std::vector<std::filesystem::path> stores;
    if (is_episode_store(input)) {
      stores.push_back(input);
    } else if (std::filesystem::is_directory(input)) {
      for (auto it = std::filesystem::recursive_directory_iterator(input); it != std::filesystem::recursive_directory_iterator(); ++it) {
        if (it->is_directory() && is_episode_store(it->path())) {
          stores.push_back(it->path());
          it.disable_recursion_pending();
        }
      }
      // Directory order is the file system's: sorted, every rank splits the same list.
      std::sort(stores.begin(), stores.end());
    }
    for (const auto& dir : stores) {
      auto store = std::make_shared<const EpisodeStore>(dir, EpisodeStore::Mode::kRead);
      const std::string prefix = is_episode_store(input) ? input.filename().string() : shard_name(input, dir);
      for (int64_t e = 0; e < store->num_episodes(); ++e) {
        const std::string episode = store->episodes()[e].name;
        units.push_back({prefix + "__" + episode, dir / episode, store, e, {}});
      }
    }
    if (is_episode_store(input)) continue;
    for (const auto& source : VideoDataset::find_sources({input}, glob)) {
      bool inside_store = false;
      for (const auto& dir : stores) inside_store = inside_store || source.string().rfind(dir.string() + "/", 0) == 0;
      if (!inside_store) units.push_back({shard_name(std::filesystem::is_directory(input) ? input : input.parent_path(), source), source, nullptr, -1, {}});
    }
  }
  // Two sources with one name (same file name under two inputs) get ~2, ~3, ... in order.
  std::map<std::string, int> seen;
  for (auto& unit : units) {
    if (const int n = ++seen[unit.name]; n > 1) unit.name += "~" + std::to_string(n);
  }
  return units;
}

class DumpPipeline {
 public:
  DumpPipeline(std::vector<DumpUnit> units, const std::filesystem::path& out, const TokenizerIdentity& tokenizer,
               const FrameEncoder& encode, const TokenDumpOptions& options)
      : units_(std::move(units)), extras_(units_.size()), out_(out), tokenizer_(tokenizer), encode_(encode), options_(options),
        decoded_(static_cast<size_t>(std::max<int64_t>(1, options.queued_batches))), finished_(2) {}

  void run(TokenDumpResult& result, int64_t total_frames) {
    core::ProgressBar progress("tokens", total_frames, "frame");
    std::thread writer([&] { write_shards(result); });
    std::vector<std::thread> decoders;
    const int threads = std::max(1, std::min<int>(options_.decode_threads, static_cast<int>(units_.size())));
    for (int t = 0; t < threads; ++t) decoders.emplace_back([&] { decode_units(); });
    std::thread closer([&] {
      for (auto& d : decoders) d.join();
      decoded_.close();
    });

    // The encoder: this thread, so the tokenizer stays on the caller's thread and device.
    std::map<size_t, std::vector<at::Tensor>> pending;  // unit -> its token batches so far
    try {
      while (auto batch = decoded_.pop()) {
        if (!batch->error.empty()) {
          pending.erase(batch->unit);
          fail(units_[batch->unit].source.string() + ": " + batch->error);
          continue;
        }
        auto& parts = pending[batch->unit];
        if (batch->frames.size(0) > 0) {
          parts.push_back(encode_(batch->frames).to(torch::kCPU).to(torch::kInt16));
          result.frames += batch->frames.size(0);
          progress.advance(batch->frames.size(0));
        }
        if (batch->last) {
          finish_unit(batch->unit, std::move(parts));
          pending.erase(batch->unit);
        }
      }
    } catch (...) {
      stop();
      closer.join();
      finished_.close();
      writer.join();
      throw;
    }
    closer.join();
    finished_.close();
    writer.join();
    progress.finish();
    if (!fatal_.empty()) throw core::Error(fatal_);
    result.failures = failures_;
  }

 private:
  void fail(const std::string& what) {
    spdlog::warn("skipping {}", what);
    std::lock_guard lock(mutex_);
    failures_.push_back(what);
  }

  // Stops the decoders (they see closed queues) after a fatal error.
  void stop() {
    stopping_ = true;
    decoded_.close();
  }

  void decode_units() {
    // Below the encoder in priority: when both want the same cores (a CPU-only run), a
    // decoder that preempts one of the encoder's OpenMP threads stalls all of them at the
    // next barrier; at lower priority decoders fill the gaps instead.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    while (!stopping_) {
      const size_t index = next_unit_++;
      if (index >= units_.size()) return;
      try {
        decode_unit(index);
      } catch (const std::exception& e) {
        if (!decoded_.push({index, {}, true, e.what()})) return;
      }
    }
  }

  void decode_unit(size_t index) {
    const DumpUnit& unit = units_[index];
    UnitExtras& extras = extras_[index];
    extras.meta.name = unit.name;
    extras.meta.source = unit.source.string();
    extras.meta.tokenizer_hash = tokenizer_.hash;
    const int64_t batch = std::max<int64_t>(1, options_.batch);
    if (unit.store) {
      const Episode episode = unit.store->load(unit.episode);
      const auto& f = episode.frames;  // uint8 [T, H, W, 3]
      if (f.size(1) != tokenizer_.frame_height || f.size(2) != tokenizer_.frame_width) {
        throw core::Error("frames are " + std::to_string(f.size(2)) + "x" + std::to_string(f.size(1)) + ", the tokenizer reads " +
                          std::to_string(tokenizer_.frame_width) + "x" + std::to_string(tokenizer_.frame_height));
      }
      extras.meta.frames = f.size(0);
      extras.meta.source_height = f.size(1);
      extras.meta.source_width = f.size(2);
      extras.actions = episode.actions;
      extras.rewards = episode.rewards;
      extras.dones = episode.dones;
      for (int64_t start = 0; start < f.size(0) || start == 0; start += batch) {
        const int64_t count = std::min(batch, f.size(0) - start);
        if (!decoded_.push({index, f.narrow(0, start, count).clone(), start + count >= f.size(0), ""})) return;
      }
      return;
    }
    FrameSourceOptions frames = options_.video.frames;
    frames.height = static_cast<int>(tokenizer_.frame_height);
    frames.width = static_cast<int>(tokenizer_.frame_width);
    auto reader = open_frame_source(unit.source, frames);
    const FrameSourceInfo& info = reader->info();
    extras.meta.frames = info.frames;
    extras.meta.fps = info.fps;
    extras.meta.source_height = info.source_height;
    extras.meta.source_width = info.source_width;
    if (const auto sidecar = find_action_sidecar(unit.source); !sidecar.empty()) {
      SidecarData data = read_action_sidecar(sidecar, options_.video.sidecar, info.frames, info.fps);
      extras.actions = data.actions;
      extras.rewards = data.rewards;
      extras.dones = data.dones;
    }
    for (int64_t start = 0; start < info.frames || start == 0; start += batch) {
      const int64_t count = std::min(batch, info.frames - start);
      if (!decoded_.push({index, read_frames(*reader, start, count), start + count >= info.frames, ""})) return;
    }
  }

  void finish_unit(size_t index, std::vector<at::Tensor> parts) {
    TokenShard shard;
    UnitExtras& extras = extras_[index];
    shard.meta = extras.meta;
    shard.tokens = parts.empty() ? torch::empty({0, tokenizer_.grid_height, tokenizer_.grid_width}, torch::kInt16) : torch::cat(parts);
    if (shard.tokens.size(0) != shard.meta.frames) {
      fail(units_[index].source.string() + ": decoded " + std::to_string(shard.tokens.size(0)) + " frames, expected " +
           std::to_string(shard.meta.frames));
      return;
    }
    shard.actions = extras.actions;
    shard.rewards = extras.rewards;
    shard.dones = extras.dones;
    if (!finished_.push(std::move(shard))) return;
  }

  void write_shards(TokenDumpResult& result) {
    while (auto shard = finished_.pop()) {
      if (!fatal_.empty()) continue;  // drain; nothing more is written after a fatal error
      try {
        write_token_shard(out_, *shard);
        ++result.written;
      } catch (const std::exception& e) {
        // Disk full, permissions: every later shard would fail the same way.
        fatal_ = std::string("writing shard ") + shard->meta.name + ": " + e.what();
        stop();
      }
    }
  }

  std::vector<DumpUnit> units_;
  std::vector<UnitExtras> extras_;
  std::filesystem::path out_;
  TokenizerIdentity tokenizer_;
  const FrameEncoder& encode_;
  TokenDumpOptions options_;
  core::BoundedQueue<DecodedBatch> decoded_;
  core::BoundedQueue<TokenShard> finished_;  // at most 2 shards wait for the writer
  std::atomic<size_t> next_unit_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<std::string> failures_;
  std::string fatal_;  // written by the writer thread only; read after it is joined
};

}  // namespace

TokenDumpResult dump_tokens(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out,
                            const TokenizerIdentity& tokenizer, const FrameEncoder& encode, const TokenDumpOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  core::ensure_directory(out);
  const bool one_rank = options.world_size <= 1;
  // One process: every partial shard is an interrupted run's. Under a launcher the other ranks'
  // may be being written now: each rank clears only its own sources' (below).
  if (const int removed = one_rank ? remove_partial_shards(out) : 0; removed > 0) {
    spdlog::info("removed {} partial shard(s) an interrupted run left in {}", removed, out.string());
  }

  // Plan: this rank's share, minus shards already done with this tokenizer.
  TokenDumpResult result;
  std::vector<DumpUnit> units;
  const std::vector<DumpUnit> found = find_units(inputs, options.video.glob);
  for (size_t i = 0; i < found.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(std::max(1, options.world_size))) != options.rank) continue;
    if (!one_rank) std::filesystem::remove_all(out / (found[i].name + ".tmp"));
    ++result.sources;
    const auto meta = read_shard_meta(out / found[i].name);
    if (!options.force && meta && meta->tokenizer_hash == tokenizer.hash && meta->source == found[i].source.string()) {
      ++result.already_done;
      continue;
    }
    units.push_back(found[i]);
  }

  // Frame counts for the progress bar and ETA (opening a video counts its packets: no decoding).
  int64_t total_frames = 0;
  for (const auto& unit : units) total_frames += unit.store ? unit.store->episode_length(unit.episode) : 0;
  std::vector<int64_t> counts(units.size(), 0);
  core::ThreadPool pool(std::max(1, options.decode_threads));
  pool.parallel_for(static_cast<int64_t>(units.size()), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (units[i].store) continue;
      try {
        counts[i] = open_frame_source(units[i].source, options.video.frames)->info().frames;
      } catch (const std::exception&) {
        // reported by the decoder, which opens it again
      }
    }
  });
  for (int64_t c : counts) total_frames += c;
  spdlog::info("tokenizing {} source(s), {} frames, into {} ({} already done{})", units.size(), total_frames, out.string(),
               result.already_done, options.force ? "; --force redoes them" : "");

  if (!units.empty()) DumpPipeline(std::move(units), out, tokenizer, encode, options).run(result, total_frames);
  result.manifest = rebuild_token_manifest(out, tokenizer);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace wm::dataloader
