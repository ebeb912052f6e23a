// The one exception type wm throws at its boundaries (files, YAML, checkpoints, sockets).
// Its message is a single line that says what failed, where, and what to do; tools/ mains
// print it as "wm: error: <message>" and exit non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace wm::core {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace wm::core
