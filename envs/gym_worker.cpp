#include "envs/gym_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/file_io.h"

namespace wm::envs {

namespace {

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(random() % 100000);
}

}  // namespace

GymWorker::GymWorker(const GymWorkerOptions& options) : options_(options) {
  // A write to a worker that just died must be an error we report, not a SIGPIPE that
  // kills wm.
  ::signal(SIGPIPE, SIG_IGN);
  // Shared memory for one frame; the worker maps /dev/shm/<name>.
  shm_name_ = "wm_gym_" + unique_suffix();
  const int shm = ::shm_open(("/" + shm_name_).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (shm < 0) throw core::Error(options_.env_id + ": cannot create shared memory: " + core::errno_text());
  const size_t bytes = static_cast<size_t>(options_.frame.bytes());
  if (::ftruncate(shm, static_cast<off_t>(bytes)) != 0) {
    ::close(shm);
    ::shm_unlink(("/" + shm_name_).c_str());
    throw core::Error(options_.env_id + ": cannot size shared memory: " + core::errno_text());
  }
  void* mapping = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
  ::close(shm);
  if (mapping == MAP_FAILED) {
    ::shm_unlink(("/" + shm_name_).c_str());
    throw core::Error(options_.env_id + ": cannot map shared memory: " + core::errno_text());
  }
  frame_ = static_cast<uint8_t*>(mapping);

  // The worker's stderr goes to a file that has no name from the start: both sides hold it
  // open, so it is read on failure and nothing is left behind, even after kill -9.
  const std::string stderr_path = (std::filesystem::temp_directory_path() / ("wm_gym_" + unique_suffix() + ".err")).string();
  stderr_fd_ = ::open(stderr_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (stderr_fd_ < 0) {
    const std::string reason = core::errno_text();
    ::munmap(frame_, static_cast<size_t>(options_.frame.bytes()));
    frame_ = nullptr;
    ::shm_unlink(("/" + shm_name_).c_str());
    throw core::Error(options_.env_id + ": cannot create " + stderr_path + ": " + reason);
  }
  ::unlink(stderr_path.c_str());
  const nlohmann::json args = {{"env_id", options_.env_id},
                               {"height", options_.frame.height},
                               {"width", options_.frame.width},
                               {"frame_skip", options_.frame_skip},
                               {"sticky_actions", options_.sticky_actions},
                               {"life_loss_ends_episode", options_.life_loss_ends_episode},
                               {"max_frames", options_.max_frames},
                               {"noop_max", options_.noop_max},
                               {"shm", shm_name_}};
  const std::string args_text = args.dump();

  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw core::Error(options_.env_id + ": cannot create pipes: " + core::errno_text());
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw core::Error(options_.env_id + ": cannot start a worker process: " + core::errno_text());
  if (pid_ == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
    ::setpgid(0, 0);
    ::dup2(in_pipe[0], STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(stderr_fd_, STDERR_FILENO);
    const char* argv[] = {options_.python.c_str(), "-u", options_.worker_script.c_str(), args_text.c_str(), nullptr};
    ::execv(options_.python.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  to_worker_ = in_pipe[1];
  from_worker_ = out_pipe[0];

  try {
    const nlohmann::json ready = receive();
    ::shm_unlink(("/" + shm_name_).c_str());  // both sides hold the mapping; nothing to leak
    const auto& space = ready.at("action_space");
    if (space.at("kind") == "discrete") {
      action_space_ = ActionSpace::discrete(space.at("n").get<int64_t>());
    } else {
      action_space_ = ActionSpace::box(space.at("low").get<std::vector<float>>(), space.at("high").get<std::vector<float>>());
    }
  } catch (...) {
    shutdown();  // a constructor that throws gets no destructor call
    throw;
  }
}

GymWorker::~GymWorker() { shutdown(); }

bool GymWorker::wait_for_exit(std::chrono::milliseconds limit, int& status) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (::waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void GymWorker::shutdown() {
  if (pid_ > 0) {
    const char close_command[] = "{\"cmd\": \"close\"}\n";
    (void)!::write(to_worker_, close_command, sizeof(close_command) - 1);
    // A polite close first; a worker that does not leave within 2 s is killed.
    int status = 0;
    if (!wait_for_exit(std::chrono::seconds(2), status)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  pid_ = -1;
  if (to_worker_ >= 0) ::close(to_worker_);
  if (from_worker_ >= 0) ::close(from_worker_);
  to_worker_ = from_worker_ = -1;
  if (frame_ != nullptr) ::munmap(frame_, static_cast<size_t>(options_.frame.bytes()));
  frame_ = nullptr;
  ::shm_unlink(("/" + shm_name_).c_str());
  if (stderr_fd_ >= 0) ::close(stderr_fd_);
  stderr_fd_ = -1;
}

std::string GymWorker::stderr_tail() const {
  std::string text;
  char buffer[4096];
  for (off_t at = 0; stderr_fd_ >= 0;) {
    const ssize_t n = ::pread(stderr_fd_, buffer, sizeof(buffer), at);
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    at += n;
  }
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty() && line.find_first_not_of(' ') != std::string::npos) last = line;
  }
  return last;
}

void GymWorker::fail(const std::string& what) {
  // Reap the worker so the error can say how it ended; it is gone after this either way.
  int status = 0;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  const std::string tail = stderr_tail();
  throw core::Error(options_.env_id + ": " + what + (tail.empty() ? "" : " (worker stderr: " + tail + ")"));
}

std::string GymWorker::reap_dead_worker() {
  // The pipe broke: the worker has ended or is about to (a process's pipes close as it dies,
  // a moment before the kernel records its exit). Wait up to 1 s for that record, so the
  // error says how it ended whichever of the two calls noticed first.
  int status = 0;
  if (!wait_for_exit(std::chrono::seconds(1), status)) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return "closed its pipe and was killed";
  }
  pid_ = -1;
  return WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                             : "exited with code " + std::to_string(WEXITSTATUS(status));
}

void GymWorker::send(const nlohmann::json& command) {
  if (pid_ < 0) throw core::Error(options_.env_id + ": the worker is gone after an earlier error");
  const std::string line = command.dump() + "\n";
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(to_worker_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string how = reap_dead_worker();
      const std::string tail = stderr_tail();
      throw core::Error(options_.env_id + ": the worker process " + how + " (cannot send it a command)" + (tail.empty() ? "" : ": " + tail));
    }
    written += static_cast<size_t>(n);
  }
}

nlohmann::json GymWorker::receive() {
  if (pid_ < 0) throw core::Error(options_.env_id + ": the worker is gone after an earlier error");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.timeout_s);
  size_t newline;
  while ((newline = buffer_.find('\n')) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      std::ostringstream what;
      what << "the worker did not answer within " << options_.timeout_s << " s (hung); it was killed";
      fail(what.str());
    }
    pollfd pfd{from_worker_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // timeout is handled at the top of the loop
    char chunk[4096];
    const ssize_t n = ::read(from_worker_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string how = reap_dead_worker();
      const std::string tail = stderr_tail();
      throw core::Error(options_.env_id + ": the worker process " + how + (tail.empty() ? "" : ": " + tail));
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
  const std::string line = buffer_.substr(0, newline);
  buffer_.erase(0, newline + 1);
  nlohmann::json message;
  try {
    message = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    fail("the worker printed something that is not a reply: " + line.substr(0, 200));
  }
  if (message.contains("error")) {
    throw core::Error(options_.env_id + ": " + message["error"].get<std::string>());
  }
  return message;
}

}  // namespace wm::envs
