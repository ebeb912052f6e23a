// Runs a PyTorch reference under bench/reference/ with the project's .venv Python and reads
// the one JSON object it prints.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace wm::bench {

// `script` is a file name under bench/reference/; `arguments` its command-line arguments.
// A failing run is a wm::core::Error naming the command.
nlohmann::json run_python_reference(const std::string& script, const std::string& arguments);

}  // namespace wm::bench
