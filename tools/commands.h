// Each `wm` subcommand registers itself on the CLI11 app; its callback does the work and
// throws wm::core::Error on failure (main turns that into one line and a non-zero exit).
#pragma once

namespace CLI {
class App;
}

namespace wm::tools {

void add_config_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_collect_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_dream_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_play_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_tokens_command(CLI::App& app);

}  // namespace wm::tools
