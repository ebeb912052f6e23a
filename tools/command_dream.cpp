// wm dream --run DIR [--from episodes|video:PATH|env] [--context C] [--horizon H] [--samples S]
//          [--actions recorded|policy|file:CSV|constant:A] [--temperature T] [--starts N] [--out DIR]
// The world model's dreams beside reality: video, GIF, contact sheet, the per-step error
// curve and a self-contained report.html (tools/dream_report.h).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

#include "core/device.h"
#include "core/logging.h"
#include "tools/commands.h"
#include "tools/dream_report.h"
#include "tools/dream_options_cli.h"

namespace wm::tools {

void add_dream_options(CLI::App& command, DreamOptions& o, double& fps) {
  command.add_option("--run", o.run, "a run folder with tokenizer and dynamics checkpoints and its config.yaml")->required();
  command.add_option("--from", o.from, "where the real frames come from: episodes (the run's), episodes:PATH, video:PATH, or env (played now)")
      ->capture_default_str();
  command.add_option("--context", o.context, "C: real frames that prime each dream")->capture_default_str();
  command.add_option("--horizon", o.horizon, "H: imagined steps")->capture_default_str();
  command.add_option("--samples", o.samples, "S: dreams per start, side by side")->capture_default_str();
  command.add_option("--actions", o.actions, "recorded, policy (the run's), file:CSV (one row per step) or constant:A")->capture_default_str();
  command.add_option("--temperature", o.temperature, "sampling temperature of the dreams")->capture_default_str();
  command.add_option("--starts", o.starts, "N: start points the error curve averages over")->capture_default_str();
  command.add_option("--video-starts", o.video_starts, "of them, the first this many are in the video")->capture_default_str();
  command.add_option("--seed", o.seed, "where the starts are drawn, and the dreams' draws")->capture_default_str();
  command.add_option("--tokenizer", o.tokenizer, "a tokenizer checkpoint or run folder (default: the run's, or the one its dynamics read)");
  command.add_option("--dynamics", o.dynamics, "a dynamics checkpoint or run folder (default: the run's newest)");
  command.add_option("--policy", o.policy, "a policy checkpoint or run folder for --actions policy and --from env (default: the run's)");
  command.add_option("--fps", fps, "frames per second of the video")->capture_default_str();
  command.add_option("overrides", o.overrides, "key.path=value overrides of the run's config (e.g. dataset.height=64 for a video)");
}

void add_dream_command(CLI::App& app) {
  struct Args {
    DreamOptions options;
    double fps = 5.0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* dream = app.add_subcommand("dream", "The world model's dreams beside reality: mp4, GIF, contact sheet, error curve, report.html");
  add_dream_options(*dream, args->options, args->fps);
  dream->add_option("--out", args->options.out, "output folder (default: <run>/dreams)");
  dream->callback([args] {
    core::init_logging(core::LogOptions{.tensorboard = false}, {}, /*rank=*/0);
    const DreamReport report = write_dream_report(args->options, args->fps);
    const DreamStepError& last = report.errors.back();
    spdlog::info("{} frames imagined and decoded in {:.1f} s; after {} steps the dream's PSNR is {:.2f} dB (the tokenizer's ceiling {:.2f}), "
                 "{:.1f}% of its tokens are reality's",
                 report.dreamed_frames, report.seconds_total, last.step, last.psnr_dream, last.psnr_reconstruction, 100 * last.token_accuracy);
    for (const auto& file : report.files) std::cout << file.string() << "\n";
  });
}

}  // namespace wm::tools
