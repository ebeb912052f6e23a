#include "bench/decode_bench.h"

#include <chrono>

#include "core/thread_pool.h"
#include "dataloader/frame_source.h"
#include "wm/build_config.h"

namespace wm::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Decodes the video start to end, again and again, for at least min_seconds on each of
// `files` threads (each with `decoder_threads` FFmpeg threads); returns frames/s in all.
double decode_rate(const DecodeBenchOptions& options, int decoder_threads, int files) {
  dataloader::FrameSourceOptions source_options;
  source_options.height = options.size;
  source_options.width = options.size;
  source_options.decoder_threads = decoder_threads;
  core::ThreadPool pool(files);
  std::vector<int64_t> frames(static_cast<size_t>(files), 0);
  const auto start = Clock::now();
  pool.parallel_for(files, [&](int64_t begin, int64_t end) {
    for (int64_t f = begin; f < end; ++f) {
      auto source = dataloader::open_frame_source(options.video, source_options);
      std::vector<uint8_t> rgb(static_cast<size_t>(options.size) * options.size * 3);
      while (std::chrono::duration<double>(Clock::now() - start).count() < options.min_seconds) {
        source->seek(0);
        while (source->read(rgb.data())) ++frames[f];
      }
    }
  });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  int64_t total = 0;
  for (int64_t n : frames) total += n;
  return static_cast<double>(total) / seconds;
}

}  // namespace

std::filesystem::path default_bench_video() {
  return std::filesystem::path(WM_SOURCE_DIR) / ".." / "shared" / "data" / "udacity-sim" / "center.mp4";
}

std::vector<BenchRecord> run_decode_bench(const DecodeBenchOptions& options) {
  std::vector<BenchRecord> records;
  if (!std::filesystem::exists(options.video)) return records;
  const auto info = dataloader::open_frame_source(options.video, {})->info();
  const std::string size = std::to_string(options.size) + "x" + std::to_string(options.size);
  const std::string source = std::to_string(info.source_width) + "x" + std::to_string(info.source_height) + " " + info.codec;
  for (auto [decoder_threads, files] : {std::pair{1, 1}, std::pair{2, 1}, std::pair{1, 2}}) {
    BenchRecord r;
    r.bench = "decode";
    r.metric = "frames_per_s";
    r.value = decode_rate(options, decoder_threads, files);
    r.context = {{"threads", decoder_threads * files}, {"decoder_threads", decoder_threads}, {"files_in_parallel", files},
                 {"source", source}, {"output", size}, {"video", options.video.filename().string()}};
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace wm::bench
