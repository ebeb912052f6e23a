#include "core/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace wm::core {

std::string errno_text() { return std::strerror(errno); }

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path.string() + " for reading: " + errno_text());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + path.string() + ": " + errno_text());
  return std::move(buffer).str();
}

namespace {

// Closes the descriptor on every path out of write_file_atomic.
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, std::string_view bytes, const std::filesystem::path& path) {
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write " + path.string() + ": " + errno_text() +
                  (errno == ENOSPC ? " (free some disk space and run again)" : ""));
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
}

}  // namespace

void fsync_directory(const std::filesystem::path& dir) {
  FileDescriptor d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY)};
  if (d.fd >= 0) ::fsync(d.fd);  // best effort: some filesystems refuse fsync on directories
}

void ensure_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create directory " + dir.string() + ": " + ec.message());
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    FileDescriptor f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (f.fd < 0) throw Error("cannot create " + tmp.string() + ": " + errno_text());
    try {
      write_all(f.fd, bytes, tmp);
      if (::fsync(f.fd) != 0) throw Error("cannot fsync " + tmp.string() + ": " + errno_text());
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string reason = errno_text();
    ::unlink(tmp.c_str());
    throw Error("cannot rename " + tmp.string() + " to " + path.string() + ": " + reason);
  }
  fsync_directory(path.parent_path());
}

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

bool writer_gone(const std::string& pid_digits) {
  if (pid_digits.empty() || pid_digits.size() > 9 || pid_digits.find_first_not_of("0123456789") != std::string::npos) return false;
  return !process_alive(std::stol(pid_digits));
}

int remove_dead_writers_temporaries(const std::filesystem::path& dir, const std::string& prefix) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    if (!writer_gone(name.substr(prefix.size()))) continue;
    std::filesystem::remove_all(entry.path(), ec);
    removed += !ec;
  }
  return removed;
}

}  // namespace wm::core
