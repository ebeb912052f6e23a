#include "fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include "core/error.h"

namespace wm::fuzz {

const std::filesystem::path& scratch() {
  // Never freed: the clean-up at exit still needs it after static destructors ran.
  static const std::filesystem::path* folder = [] {
    const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto* path = new std::filesystem::path(base / ("wm_fuzz_" + std::to_string(::getpid())));
    std::filesystem::create_directories(*path);
    // Removed at a normal exit; scripts/fuzz.sh removes those of harnesses that crashed.
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch(), ignored);
    });
    return path;
  }();
  return *folder;
}

std::filesystem::path write_input(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = scratch() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

void only_wm_errors(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const core::Error&) {
    // bad input, named in one line: what should happen
  } catch (const std::exception& e) {
    std::fprintf(stderr, "an exception other than wm::core::Error escaped: %s\n", e.what());
    std::abort();
  }
}

}  // namespace wm::fuzz
