// A checkpoint file as --resume, `wm dream` and every loader read it. Even first bytes: the
// input is the whole file (header, payload, checksum). Odd: the rest is a payload, wrapped in
// a valid header and checksum, so the archive reader and what reads the archive's sections
// (counters, texts, config, a module, an optimizer, RNG states) are exercised past the checksum.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>

#include "core/checkpoint.h"
#include "core/crc32c.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string file;
  if (data[0] % 2 == 0) {
    file.assign(rest);
  } else {
    file = "WMCKPT01";
    const uint64_t length = rest.size();
    file.append(reinterpret_cast<const char*>(&length), sizeof(length));
    file.append(rest);
    const uint32_t crc = wm::core::crc32c(rest);
    file.append(reinterpret_cast<const char*>(&crc), sizeof(crc));
  }
  const auto path = wm::fuzz::write_input("fuzz.ckpt", file);
  wm::fuzz::only_wm_errors([&] {
    const wm::core::Checkpoint checkpoint = wm::core::Checkpoint::load(path);
    checkpoint.config_yaml();
    if (checkpoint.has_counter("tokenizer_step")) checkpoint.counter("tokenizer_step");
    checkpoint.text("tokenizer_last_usage");
    torch::nn::Linear module(2, 2);
    torch::optim::SGD optimizer(module->parameters(), torch::optim::SGDOptions(0.1));
    if (checkpoint.has_module("tokenizer")) checkpoint.restore_module("tokenizer", *module);
    checkpoint.restore_optimizer("tokenizer_adamw", optimizer);
    checkpoint.restore_rng_states();
  });
  return 0;
}
