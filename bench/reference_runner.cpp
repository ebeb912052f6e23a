#include "bench/reference_runner.h"

#include <cstdio>

#include "core/error.h"
#include "wm/build_config.h"

namespace wm::bench {

nlohmann::json run_python_reference(const std::string& script, const std::string& arguments) {
  const std::string command = std::string(WM_PYTHON) + " " + WM_SOURCE_DIR + "/bench/reference/" + script + " " + arguments;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw core::Error("cannot run the PyTorch reference: " + command);
  std::string out;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0 || out.empty()) throw core::Error("the PyTorch reference failed (exit status " + std::to_string(status) + "): " + command);
  // The last line is the result (torch may print notices before it).
  const size_t start = out.find_last_of('\n', out.size() >= 2 ? out.size() - 2 : 0);
  return nlohmann::json::parse(start == std::string::npos ? out : out.substr(start + 1));
}

}  // namespace wm::bench
