// Helpers shared by the tests: scratch directories and running commands.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace wm::test {

// A fresh empty directory under the system temp dir, removed with its contents on scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh and captures stdout, stderr and the exit code.
CommandResult run_command(const std::string& command);

// The whole content of a file.
std::string read_bytes(const std::filesystem::path& path);

// Writes a text file (creating parent directories).
void write_text(const std::filesystem::path& path, const std::string& text);

// The message of the wm::core::Error that `f` throws; "" when it throws none.
std::string error_of(const std::function<void()>& f);

// PSNR in dB between two uint8 tensors of the same shape.
double psnr_of(const at::Tensor& a, const at::Tensor& b);

// Starts `wm args...` in the background (no shell; stdout and stderr to /dev/null) and
// returns its pid, for tests that signal or kill it.
int spawn_wm(const std::vector<std::string>& args);

// Polls `done` every 20 ms for up to `seconds`; whether it became true.
bool wait_for(const std::function<bool()>& done, double seconds);

// Path of the wm binary and of the project's .venv Python.
std::string wm_binary();
std::string venv_python();

}  // namespace wm::test
