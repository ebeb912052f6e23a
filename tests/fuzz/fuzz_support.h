// What every harness shares: the input as a file (the parsers read paths), and the rule that
// bad input may only end in wm::core::Error — one clear line — never in another exception,
// a crash or a sanitizer report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

namespace wm::fuzz {

// A folder of this process's own (in /dev/shm where it exists: no disk writes per input).
const std::filesystem::path& scratch();

// Writes `bytes` to scratch() / name and returns the path.
std::filesystem::path write_input(const std::string& name, std::string_view bytes);

// Runs `parse`; wm::core::Error is the expected outcome of bad input. Any other exception
// aborts, which libFuzzer reports as a crash with the input that caused it.
void only_wm_errors(const std::function<void()>& parse);

}  // namespace wm::fuzz
