// wm data import INPUT... --out STORE: decodes video datasets (videos, image folders, with
// their actions.csv sidecars) once into the episode-store format.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <memory>

#include "core/error.h"
#include "core/logging.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "dataloader/episode_store.h"
#include "dataloader/video_dataset.h"
#include "tools/commands.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

struct ImportArgs {
  std::vector<std::string> inputs;
  std::string out;
  std::string config_file;
  std::vector<std::string> overrides;
};

void run_import(const ImportArgs& args) {
  const auto [inputs, overrides] = split_inputs_and_overrides(args.inputs);
  if (inputs.empty()) throw core::Error("wm data import: no input given (a video, an image folder, or a folder of them)");
  LoadedConfig loaded = load_wm_config(args.config_file, overrides);
  core::init_logging(loaded.config.log, {}, /*rank=*/0);
  const auto& options = loaded.config.dataset;

  dataloader::VideoDataset dataset(inputs, options.video);
  dataloader::EpisodeStore store(args.out, dataloader::EpisodeStore::Mode::kAppend);
  int64_t frames = 0;
  for (const auto& e : dataset.episodes()) frames += e.length;
  spdlog::info("importing {} sources ({} episodes, {} frames of {}x{}) into {}", dataset.sources(),
               dataset.num_episodes(), frames, dataset.observation_shape()[1], dataset.observation_shape()[0], args.out);

  // Episodes are decoded a few at a time in parallel and appended in order, so the store's
  // numbering follows the sorted sources whatever the thread timing.
  core::ThreadPool pool(std::max(1, options.parallel_files));
  core::ProgressBar progress("import", frames, "frame");
  const int64_t n = dataset.num_episodes();
  std::vector<std::string> failed = dataset.skipped();
  for (int64_t first = 0; first < n; first += pool.threads()) {
    const int64_t count = std::min<int64_t>(pool.threads(), n - first);
    std::vector<dataloader::Episode> decoded(static_cast<size_t>(count));
    std::vector<std::string> errors(static_cast<size_t>(count));
    pool.parallel_for(count, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        try {
          decoded[i] = dataset.load(first + i);
        } catch (const core::Error& e) {
          errors[i] = e.what();
        }
      }
    });
    for (int64_t i = 0; i < count; ++i) {
      if (!errors[i].empty()) {
        spdlog::warn("skipping {}", errors[i]);
        failed.push_back(errors[i]);
      } else {
        store.append(decoded[i]);
      }
      progress.advance(dataset.episodes()[first + i].length);
    }
  }
  progress.finish();
  spdlog::info("the store {} now holds {} episodes, {} steps", args.out, store.num_episodes(), store.total_steps());
  if (!failed.empty()) {
    throw core::Error(std::to_string(failed.size()) + " source(s) could not be imported (the others were): " + failed.front() +
                      (failed.size() > 1 ? " (and more in the log above)" : ""));
  }
}

}  // namespace

void add_data_command(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Video datasets");
  data->require_subcommand(1);
  auto args = std::make_shared<ImportArgs>();
  CLI::App* import = data->add_subcommand(
      "import", "Decode videos / image folders (with actions.csv sidecars) into an episode store");
  import->add_option("inputs", args->inputs, "video files, image folders, or folders searched for them; and key=value overrides")
      ->required();
  import->add_option("--out,-o", args->out, "episode store to create or append to")->required();
  import->add_option("--config,-c", args->config_file, "YAML config (its dataset: section)");
  import->callback([args] { run_import(*args); });
}

}  // namespace wm::tools
