// `wm play`'s web server (cpp-httplib): one page, embedded in the binary, and a small JSON/PNG
// API for it. Each page holds an imagination session (PlaySession) that steps per action.
//
//   GET    /                                the page
//   GET    /api/info                        the run, the action space and its key names, limits
//   POST   /api/sessions                    a new session -> {"id": ...}; 503 when all are taken
//   POST   /api/sessions/ID/restart         a new random real start -> PNG (its last frame as
//                                           the tokenizer sees it)
//   POST   /api/sessions/ID/step            {"action": 4 | [0.1, -1] | "policy"} -> PNG of the
//                                           dreamed frame
//   GET    /api/sessions/ID/start.png       the real frame the dream started from
//   POST   /api/sessions/ID/temperature     {"temperature": 0.5}
//   POST   /api/sessions/ID/record          {"on": true}: records the frames shown from now on
//                                           (at most 10 minutes' worth); {"on": false} stops
//   GET    /api/sessions/ID/recording.mp4   ... as video, recording.csv: the actions
//   DELETE /api/sessions/ID
//
// Frames carry X-Step, X-Reward, X-Done-Probability, X-Action, X-Policy-Action and X-Server-Ms
// (imagine + decode + encode). A bad request (an action outside the space, a body that is not
// JSON or has other keys) is HTTP 400 with a one-line reason and the session goes on; an
// unknown session 404; a body over the bound 413; a POST that is not JSON 415; on loopback a
// Host other than loopback 403; a frame while more than the bound wait, or while the session's
// previous frame is still being dreamed, 503. Nothing from disk is served. Sessions idle longer
// than the timeout are freed.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tools/play_session.h"

namespace httplib {
class Server;
}

namespace wm::tools {

struct PlayServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                // 0: a free one
  int max_sessions = 4;
  double idle_timeout_s = 120;  // a session without requests this long is freed
  int max_waiting_steps = 8;    // frames waiting for the model beyond the one it dreams; more: 503
  size_t max_body_bytes = 4096;
};

class PlayServer {
 public:
  PlayServer(PlayWorld& world, PlayServerOptions options, std::filesystem::path scratch);
  ~PlayServer();
  PlayServer(const PlayServer&) = delete;
  PlayServer& operator=(const PlayServer&) = delete;

  // Binds (throws wm::core::Error naming the host and port when it cannot) and serves on a
  // thread of its own; returns the port.
  int start();
  void stop();
  std::string url() const;
  size_t session_count() const;

 private:
  struct Entry {
    std::unique_ptr<PlaySession> session;
    std::mutex mutex;  // one request of a session at a time
    std::atomic<int64_t> last_used_ns{0};  // steady clock
    std::atomic<int> in_flight{0};         // requests under way: it does not expire meanwhile
  };
  std::shared_ptr<Entry> find(const std::string& id);
  void routes();
  void expire_idle();

  PlayWorld& world_;
  PlayServerOptions options_;
  std::filesystem::path scratch_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_, reaper_;
  int port_ = 0;
  int listening_socket_ = -1;
  std::atomic<bool> stopping_{false};
  mutable std::mutex sessions_mutex_;
  std::map<std::string, std::shared_ptr<Entry>> sessions_;
  uint64_t next_session_ = 0;
  std::mutex model_mutex_;            // one imagined step at a time: the cores are shared
  std::atomic<int> waiting_steps_{0};
};

}  // namespace wm::tools
