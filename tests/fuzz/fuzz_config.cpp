// A config file as `wm` loads it (includes resolved next to it, every key's type and range
// checked): any bytes end in a loaded config or one wm::core::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "tools/wm_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = wm::fuzz::write_input("config.yaml", std::string_view(reinterpret_cast<const char*>(data), size));
  wm::fuzz::only_wm_errors([&] { wm::tools::load_wm_config(file, {}); });
  return 0;
}
