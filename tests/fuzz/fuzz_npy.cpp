// A .npy file as every reader of episodes and token shards opens it: header and data.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/npy.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = wm::fuzz::write_input("array.npy", std::string_view(reinterpret_cast<const char*>(data), size));
  wm::fuzz::only_wm_errors([&] {
    wm::core::read_npy_header(file);
    wm::core::read_npy(file);
  });
  return 0;
}
