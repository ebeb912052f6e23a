// wm config show --config C [key.path=value ...]: prints the resolved config or the error.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "tools/commands.h"
#include "tools/wm_config.h"

namespace wm::tools {

namespace {

struct ConfigShowArgs {
  std::string config_file;
  std::vector<std::string> overrides;
};

}  // namespace

void add_config_command(CLI::App& app) {
  CLI::App* config = app.add_subcommand("config", "Inspect configuration");
  config->require_subcommand(1);
  auto args = std::make_shared<ConfigShowArgs>();
  CLI::App* show = config->add_subcommand(
      "show", "Print the resolved config (defaults < file < overrides), or the error");
  show->add_option("--config,-c", args->config_file, "YAML config file (defaults when omitted)");
  show->add_option("overrides", args->overrides, "key.path=value overrides");
  show->callback([args] {
    std::cout << load_wm_config(args->config_file, args->overrides).yaml;
  });
}

}  // namespace wm::tools
