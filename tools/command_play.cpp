// wm play --run DIR [--from episodes|episodes:PATH|video:PATH|env] [--host 127.0.0.1] [--port 0]
//         [--fps F] [--temperature T] [--actions human|policy] [--open]
// Serves a page on which a person drives the run's world model with the keyboard: each
// action is dreamed into the next frame (tools/play_server.h). Runs until SIGINT or SIGTERM.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "core/error.h"
#include "core/file_io.h"
#include "core/logging.h"
#include "tools/commands.h"
#include "tools/play_server.h"

namespace wm::tools {

namespace {

std::atomic<bool> g_stop{false};

// The first Ctrl-C stops the server cleanly; a second one ends the process at once.
void request_stop(int) {
  if (g_stop.exchange(true)) ::_exit(130);
}

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

}  // namespace

void add_play_command(CLI::App& app) {
  struct Args {
    PlayOptions play;
    PlayServerOptions server;
    bool open = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* play = app.add_subcommand("play", "Serve a page where you drive the run's world model with the keyboard, in its dream");
  play->add_option("--run", args->play.run, "a run folder with tokenizer and dynamics checkpoints (and a policy, for --actions policy)")->required();
  play->add_option("--from", args->play.from, "where the real start frames come from: episodes (the run's), episodes:PATH, video:PATH, or env")
      ->capture_default_str();
  play->add_option("--host", args->server.host, "the address to listen on; anything but loopback lets other machines play")->capture_default_str();
  play->add_option("--port", args->server.port, "0: a free port")->capture_default_str()->check(CLI::Range(0, 65535));
  play->add_option("--fps", args->play.fps, "dreamed frames per second the page asks for")->capture_default_str();
  play->add_option("--temperature", args->play.temperature, "sampling temperature of the dream (the page can change it)")->capture_default_str();
  play->add_option("--actions", args->play.actions, "who acts when the page opens: human, or policy (the run's; take over with the arrows)")
      ->capture_default_str();
  play->add_option("--context", args->play.context, "real frames that prime each dream (0: up to 4, as the world model allows)")->capture_default_str();
  play->add_option("--max-sessions", args->server.max_sessions, "pages that can play at once")->capture_default_str()->check(CLI::Range(1, 256));
  play->add_option("--idle-timeout", args->server.idle_timeout_s, "seconds without requests after which a page's session is freed")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  play->add_option("--device", args->play.device, "auto (a GPU when one is visible), cpu, cuda or cuda:<i>")->capture_default_str();
  play->add_option("--max-waiting", args->server.max_waiting_steps, "frames that may wait for the model; more are answered 503")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  play->add_option("--seed", args->play.seed, "where the starts and the dreams' draws come from")->capture_default_str();
  play->add_flag("--open", args->open, "open the page in the desktop's browser (xdg-open)");
  play->add_option("overrides", args->play.overrides, "key.path=value overrides of the run's config (e.g. dataset.height=64 for a video)");
  play->callback([args] {
    // First of all: a Ctrl-C while the models load ends the command cleanly too (and a
    // script that starts wm play in the background, where SIGINT may come in ignored, can
    // still stop it).
    std::signal(SIGINT, request_stop);
    std::signal(SIGTERM, request_stop);
    core::init_logging(core::LogOptions{.tensorboard = false}, {}, /*rank=*/0);
    if (!is_loopback(args->server.host)) {
      spdlog::warn("wm play: listening on {}: anyone who can reach this machine can play (and use its cores); loopback is 127.0.0.1",
                   args->server.host);
    }
    // Recordings are encoded here, and --from env's episodes stored: removed on the way out.
    const std::filesystem::path scratch = std::filesystem::temp_directory_path() / ("wm_play_" + std::to_string(::getpid()));
    std::filesystem::create_directories(scratch);
    struct RemoveScratch {
      std::filesystem::path path;
      ~RemoveScratch() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
      }
    } remove_scratch{scratch};
    PlayWorld world(args->play, scratch);
    if (g_stop) throw core::Error("wm play: stopped before it served");
    PlayServer server(world, args->server, scratch);
    server.start();
    spdlog::info("wm play: {} (dynamics {}, starts from {}; {}); Ctrl-C stops", server.url(), world.models().dynamics_path.string(),
                 world.source_description(), world.has_policy() ? "its policy can act" : "no policy");
    std::cout << server.url() << std::endl;
    if (args->open) {
      const int rc = std::system(("xdg-open '" + server.url() + "' >/dev/null 2>&1 &").c_str());
      if (rc != 0) spdlog::warn("wm play: could not start a browser (xdg-open); open {} yourself", server.url());
    }
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    spdlog::info("wm play: stopping ({} session(s) open)", server.session_count());
    server.stop();
  });
}

}  // namespace wm::tools
