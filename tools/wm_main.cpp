// wm: the one command-line entry point, git-style subcommands (see README.md).
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include <iostream>

#include "core/build_info.h"
#include "core/error.h"
#include "core/host_memory.h"
#include "core/logging.h"
#include "tools/commands.h"

namespace {

// CLI11 reports "wm nosuch" as a missing subcommand; say which word was not understood,
// and which subcommands exist where one is missing.
std::string parse_error_text(CLI::App& app, const CLI::ParseError& error) {
  if (dynamic_cast<const CLI::RequiredError*>(&error) == nullptr) return error.what();
  CLI::App* level = &app;
  std::string path = "wm";
  while (!level->get_subcommands().empty()) {
    level = level->get_subcommands().front();
    path += " " + level->get_name();
  }
  std::string names;
  for (const CLI::App* sub : level->get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
  const auto remaining = level->remaining();
  if (!remaining.empty()) return "'" + path + "' has no subcommand '" + remaining.front() + "' (it has: " + names + ")";
  return "'" + path + "' needs a subcommand: " + names;
}

}  // namespace

int main(int argc, char** argv) {
  wm::core::keep_freed_memory_in_process();
  // Log lines go to stderr from the start, so --json output on stdout stays clean.
  wm::core::init_logging(wm::core::LogOptions{}, {}, /*rank=*/0);
  CLI::App app{"wm: a discrete world-model trainer (VQ tokenizer + GPT dynamics + policy)", "wm"};
  app.set_version_flag("--version", [] { return wm::core::build_info_text(wm::core::build_info()); },
                       "Print the wm version, what it was built with and what it can use");
  app.require_subcommand(1);
  wm::tools::add_config_command(app);
  wm::tools::add_collect_command(app);
  wm::tools::add_data_command(app);
  wm::tools::add_dream_command(app);
  wm::tools::add_eval_command(app);
  wm::tools::add_play_command(app);
  wm::tools::add_train_command(app);
  wm::tools::add_tokens_command(app);
  wm::tools::add_bench_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "wm: error: " << parse_error_text(app, e) << " (see wm --help)" << std::endl;
    return e.get_exit_code() != 0 ? e.get_exit_code() : 2;
  } catch (const wm::core::Error& e) {
    std::cerr << "wm: error: " << e.what() << std::endl;
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "wm: error: torch: " << e.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "wm: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
