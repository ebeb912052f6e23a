// Checked file helpers: every failure names the file, the operation and the OS reason.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace wm::core {

// Reads a whole file into memory.
std::string read_file(const std::filesystem::path& path);

// Writes `bytes` to `path` so that readers see either the old file or the complete new
// one: write to "<path>.tmp.<pid>", fsync, rename over `path`, fsync the directory.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// fsync a directory so a rename inside it survives a power loss.
void fsync_directory(const std::filesystem::path& dir);

// Creates `dir` and its parents; an error names the directory.
void ensure_directory(const std::filesystem::path& dir);

// "reason" text for the current errno, e.g. "No space left on device".
std::string errno_text();

// Whether process `pid` still runs: a temporary named by a live process is its work in
// progress, one named by a dead process (killed mid-write) is garbage.
bool process_alive(long pid);

// Whether the writer named by `pid_digits` (the digits in a temporary's name) is gone, so its
// temporary may be removed. Not digits, or more than 9 of them: not a pid we wrote, never gone.
bool writer_gone(const std::string& pid_digits);

// Removes the entries of `dir` (files or folders) named <prefix><pid> whose process is gone,
// e.g. ".dreams.dream.tmp.<pid>" of a `wm dream` that was killed. Returns how many went.
int remove_dead_writers_temporaries(const std::filesystem::path& dir, const std::string& prefix);

}  // namespace wm::core
