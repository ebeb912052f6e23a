// A video's actions.csv sidecar, read for a 30-frame video at 10 fps with three action
// columns (the Udacity recording's layout), as `wm data import` and `wm tokens dump` read it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataloader/action_sidecar.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = wm::fuzz::write_input("actions.csv", std::string_view(reinterpret_cast<const char*>(data), size));
  wm::dataloader::SidecarOptions options;
  options.action_columns = {"steering", "throttle", "brake"};
  wm::fuzz::only_wm_errors([&] { wm::dataloader::read_action_sidecar(file, options, 30, 10.0); });
  return 0;
}
