#include "dist/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "core/error.h"

extern char** environ;

namespace wm::dist {

namespace {

int parse_int(const std::string& flag, const std::string& text, int low, int high) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < low || value > high) {
    throw core::Error("wmrun: " + flag + " '" + text + "' is not a whole number from " + std::to_string(low) + " to " + std::to_string(high));
  }
  return static_cast<int>(value);
}

double parse_seconds(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value > 0 && value <= 3600)) {
    throw core::Error("wmrun: " + flag + " '" + text + "' is not a number of seconds above 0 (at most 3600)");
  }
  return value;
}

std::string signal_name(int signal) {
  const char* name = ::sigabbrev_np(signal);
  return name != nullptr ? std::string("SIG") + name : "signal " + std::to_string(signal);
}

// SIGINT / SIGTERM to wmrun: remembered, forwarded to the workers by the monitor loop.
std::atomic<int> g_stop_signal{0};
void remember_signal(int signal) { g_stop_signal = signal; }

struct Worker {
  int local_rank = 0;
  int rank = 0;
  pid_t pid = -1;
  int status = 0;
  bool running = false;
  std::filesystem::path log;
  std::thread reader;                // copies the worker's output into its log (and the console)
  std::deque<std::string> last_lines;  // the tail of its output, for the failure summary
};

std::mutex g_console;

// Lines of `fd` into the worker's log and, prefixed with its rank, onto the console.
void copy_output(int fd, Worker* worker, bool console) {
  std::ofstream log(worker->log, std::ios::app);
  std::string pending;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR);) {
    if (n < 0) continue;
    pending.append(buffer, static_cast<size_t>(n));
    for (size_t end; (end = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      log << line << '\n';
      log.flush();
      if (console) {
        std::lock_guard<std::mutex> lock(g_console);
        std::cerr << "[rank " << worker->rank << "] " << line << '\n';
      }
      worker->last_lines.push_back(line);
      if (worker->last_lines.size() > 10) worker->last_lines.pop_front();
    }
  }
  if (!pending.empty()) {
    log << pending << '\n';
    worker->last_lines.push_back(pending);
  }
  ::close(fd);
}

// Starts one worker in its own process group, its stdout and stderr into a pipe.
void spawn(Worker& w, const LaunchOptions& options, int restart, const std::filesystem::path& attempt_dir) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw core::Error(std::string("wmrun: cannot make a pipe: ") + std::strerror(errno));
  // The environment: ours, with torchrun's variables set over it.
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : worker_variables(options, w.local_rank, restart)) env[key] = value;
  std::vector<std::string> env_text;
  for (const auto& [key, value] : env) env_text.push_back(key + "=" + value);
  std::vector<char*> envp, argv;
  for (auto& s : env_text) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = options.command;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  w.log = attempt_dir / ("rank_" + std::to_string(w.rank) + ".log");
  const pid_t pid = ::fork();
  if (pid < 0) throw core::Error(std::string("wmrun: cannot start a worker: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group: stopping it stops whatever it started
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execvpe(argv[0], argv.data(), envp.data());
    const std::string message = "wmrun: cannot run '" + options.command[0] + "': " + std::strerror(errno) + "\n";
    [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, message.data(), message.size());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no race with a signal sent before the child ran setpgid
  ::close(pipe_fds[1]);
  w.pid = pid;
  w.running = true;
  w.status = 0;
  w.last_lines.clear();
  w.reader = std::thread(copy_output, pipe_fds[0], &w, options.console);
}

void signal_group(const std::vector<Worker>& workers, int signal) {
  for (const Worker& w : workers) {
    if (w.running) ::kill(-w.pid, signal);
  }
}

// Reaps workers that ended; true when one did.
bool reap(std::vector<Worker>& workers) {
  bool any = false;
  for (Worker& w : workers) {
    if (!w.running) continue;
    int status = 0;
    if (::waitpid(w.pid, &status, WNOHANG) == w.pid) {
      w.running = false;
      w.status = status;
      any = true;
    }
  }
  return any;
}

bool any_running(const std::vector<Worker>& workers) {
  for (const Worker& w : workers) {
    if (w.running) return true;
  }
  return false;
}

// SIGTERM to every worker's group, SIGKILL to those still there after the grace period.
void stop_all(std::vector<Worker>& workers, double grace_s) {
  signal_group(workers, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
  while (any_running(workers) && std::chrono::steady_clock::now() < deadline) {
    reap(workers);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  signal_group(workers, SIGKILL);
  for (Worker& w : workers) {
    if (!w.running) continue;
    ::waitpid(w.pid, &w.status, 0);
    w.running = false;
  }
}

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::string how_it_ended(int status) {
  return WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status)) : "signal " + signal_name(WTERMSIG(status));
}

}  // namespace

LaunchOptions parse_launch_args(const std::vector<std::string>& args) {
  LaunchOptions o;
  bool port_given = false;
  size_t i = 0;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= args.size()) throw core::Error("wmrun: " + flag + " needs a value");
    return args[++i];
  };
  for (; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string inline_value;
    if (flag == "--") {
      ++i;
      break;
    }
    if (flag.rfind("--", 0) != 0) break;  // the worker's program
    if (const size_t eq = flag.find('='); eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    for (char& c : flag) c = c == '_' ? '-' : c;  // torchrun takes --nproc_per_node too
    auto get = [&] { return inline_value.empty() ? value(flag) : inline_value; };
    if (flag == "--nproc-per-node") {
      o.nproc_per_node = parse_int(flag, get(), 1, 1024);
    } else if (flag == "--nnodes") {
      o.nnodes = parse_int(flag, get(), 1, 65536);
    } else if (flag == "--node-rank") {
      o.node_rank = parse_int(flag, get(), 0, 65535);
    } else if (flag == "--master-addr") {
      o.master_addr = get();
    } else if (flag == "--master-port") {
      o.master_port = parse_int(flag, get(), 1, 65535);
      port_given = true;
    } else if (flag == "--standalone") {
      o.standalone = true;
    } else if (flag == "--max-restarts") {
      o.max_restarts = parse_int(flag, get(), 0, 1000);
    } else if (flag == "--monitor-interval") {
      o.monitor_interval_s = parse_seconds(flag, get());
    } else if (flag == "--log-dir") {
      o.log_dir = get();
    } else if (flag == "--redirects" || flag == "--tee") {
      // torchrun's 0..3 (none, stdout, stderr, both): the log always gets both; 3 keeps them off the console.
      const int which = parse_int(flag, get(), 0, 3);
      if (flag == "--redirects") o.console = which != 3;
    } else if (flag == "--no-python") {
      // wmrun runs programs directly anyway
    } else if (flag.rfind("--rdzv", 0) == 0) {
      throw core::Error("wmrun: " + flag + " is not supported: wmrun rendezvous is static (--nnodes, --node-rank, --master-addr, --master-port)");
    } else {
      throw core::Error("wmrun: unknown flag " + flag + " (see wmrun --help)");
    }
  }
  o.command.assign(args.begin() + static_cast<std::ptrdiff_t>(std::min(i, args.size())), args.end());
  if (o.command.empty()) throw core::Error("wmrun: no worker command given (e.g. wmrun --nproc-per-node 2 -- build/wm train dynamics ...)");
  if (o.node_rank >= o.nnodes) {
    throw core::Error("wmrun: --node-rank " + std::to_string(o.node_rank) + " is outside --nnodes " + std::to_string(o.nnodes));
  }
  if (o.standalone) {
    if (o.nnodes != 1) throw core::Error("wmrun: --standalone is one node; it cannot go with --nnodes " + std::to_string(o.nnodes));
    o.master_addr = "127.0.0.1";
    if (!port_given) o.master_port = free_local_port();
  }
  return o;
}

std::map<std::string, std::string> worker_variables(const LaunchOptions& o, int local_rank, int restart) {
  const int world = o.nproc_per_node * o.nnodes, rank = o.node_rank * o.nproc_per_node + local_rank;
  std::map<std::string, std::string> v = {{"RANK", std::to_string(rank)},
                                          {"LOCAL_RANK", std::to_string(local_rank)},
                                          {"WORLD_SIZE", std::to_string(world)},
                                          {"LOCAL_WORLD_SIZE", std::to_string(o.nproc_per_node)},
                                          {"GROUP_RANK", std::to_string(o.node_rank)},
                                          {"GROUP_WORLD_SIZE", std::to_string(o.nnodes)},
                                          {"ROLE_RANK", std::to_string(rank)},
                                          {"ROLE_WORLD_SIZE", std::to_string(world)},
                                          {"ROLE_NAME", "default"},
                                          {"MASTER_ADDR", o.master_addr},
                                          {"MASTER_PORT", std::to_string(o.master_port)},
                                          {"TORCHELASTIC_RESTART_COUNT", std::to_string(restart)},
                                          {"TORCHELASTIC_MAX_RESTARTS", std::to_string(o.max_restarts)},
                                          {"TORCHELASTIC_RUN_ID", "none"}};
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    v["OMP_NUM_THREADS"] = std::to_string(std::max(1u, cores / static_cast<unsigned>(o.nproc_per_node)));
  }
  return v;
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw core::Error(std::string("wmrun: cannot open a socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!ok) throw core::Error(std::string("wmrun: cannot find a free port: ") + std::strerror(errno));
  return ntohs(address.sin_port);
}

int run_launcher(LaunchOptions options) {
  struct sigaction action {};
  action.sa_handler = remember_signal;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  for (int restart = 0;; ++restart) {
    const std::filesystem::path attempt_dir = std::filesystem::path(options.log_dir) / ("attempt_" + std::to_string(restart));
    std::error_code ec;
    std::filesystem::create_directories(attempt_dir, ec);
    if (ec) throw core::Error("wmrun: cannot create the log folder " + attempt_dir.string() + ": " + ec.message());
    std::vector<Worker> workers(static_cast<size_t>(options.nproc_per_node));
    for (int local = 0; local < options.nproc_per_node; ++local) {
      Worker& w = workers[static_cast<size_t>(local)];
      w.local_rank = local;
      w.rank = options.node_rank * options.nproc_per_node + local;
      spawn(w, options, restart, attempt_dir);
    }
    // Watch until all end well, one fails, or wmrun is told to stop.
    const Worker* failed = nullptr;
    while (any_running(workers) && failed == nullptr && g_stop_signal == 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(options.monitor_interval_s));
      reap(workers);
      for (const Worker& w : workers) {
        if (!w.running && w.status != 0 && failed == nullptr) failed = &w;
      }
    }
    const int stop_signal = g_stop_signal;
    const Worker* first_failure = failed;
    if (failed != nullptr || stop_signal != 0) {
      if (stop_signal != 0) signal_group(workers, stop_signal);  // forwarded as it came
      stop_all(workers, options.grace_s);
    }
    for (Worker& w : workers) w.reader.join();
    if (stop_signal != 0) {
      std::cerr << "wmrun: stopped by " << signal_name(stop_signal) << "; every worker ended\n";
      return 128 + stop_signal;
    }
    if (first_failure == nullptr) return 0;
    std::cerr << "wmrun: rank " << first_failure->rank << " (pid " << first_failure->pid << ") failed first with "
              << how_it_ended(first_failure->status) << "; its log: " << first_failure->log.string() << "\n";
    for (const std::string& line : first_failure->last_lines) std::cerr << "  | " << line << "\n";
    if (restart >= options.max_restarts) {
      std::cerr << "wmrun: no restarts left (--max-restarts " << options.max_restarts << "); exiting with the failed worker's code\n";
      return exit_code_of(first_failure->status);
    }
    std::cerr << "wmrun: restarting the group (" << restart + 1 << " of " << options.max_restarts << ")\n";
  }
}

}  // namespace wm::dist
