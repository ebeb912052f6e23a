// A token dump's manifest.json and a shard's meta.json, as trainers and `wm tokens info` read
// them. The first byte picks the file; the rest is its content.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataloader/token_shards.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view content(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto root = wm::fuzz::scratch() / "dump";
  std::filesystem::remove_all(root);
  if (data[0] % 2 == 0) {
    wm::fuzz::write_input("dump/manifest.json", content);
    wm::fuzz::only_wm_errors([&] {
      wm::dataloader::is_token_dump(root);
      wm::dataloader::read_token_manifest(root);
    });
  } else {
    wm::fuzz::write_input("dump/shard/meta.json", content);
    wm::fuzz::only_wm_errors([&] { wm::dataloader::read_shard_meta(root / "shard"); });
  }
  return 0;
}
