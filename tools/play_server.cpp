#include "tools/play_server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <malloc.h>
#include <sys/socket.h>

#include <optional>
#include <random>

#include "core/error.h"
#include "tools/play_page.h"

namespace wm::tools {

namespace {

using Clock = std::chrono::steady_clock;

void reply_error(httplib::Response& res, int status, const std::string& reason) {
  res.status = status;
  res.set_content(reason + "\n", "text/plain");
}

void reply_frame(httplib::Response& res, const PlayFrame& frame) {
  res.set_header("X-Step", std::to_string(frame.step));
  res.set_header("X-Reward", fmt::format("{:.4f}", frame.reward));
  res.set_header("X-Done-Probability", fmt::format("{:.4f}", frame.done_probability));
  res.set_header("X-Action", frame.action);
  res.set_header("X-Policy-Action", frame.policy_action);
  res.set_header("X-Recording", frame.recording ? "on" : "off");
  res.set_header("X-Server-Ms", fmt::format("{:.2f}", 1000 * (frame.imagine_s + frame.decode_s + frame.encode_s)));
  res.set_header("Cache-Control", "no-store");
  res.set_content(frame.png, "image/png");
}

// The request's JSON body (an object of `allowed` keys at most), or wm::core::Error.
nlohmann::json body_of(const httplib::Request& req, std::initializer_list<const char*> allowed) {
  nlohmann::json j = nlohmann::json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw core::Error("the request body is not a JSON object");
  for (const auto& item : j.items()) {
    bool known = false;
    for (const char* key : allowed) known = known || item.key() == key;
    if (!known) {
      std::string expected;
      for (const char* key : allowed) expected += (expected.empty() ? "\"" : ", \"") + std::string(key) + "\"";
      throw core::Error("unknown key \"" + item.key() + "\" in the body (expected " + (expected.empty() ? std::string("none") : expected) + ")");
    }
  }
  return j;
}

int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

}  // namespace

PlayServer::PlayServer(PlayWorld& world, PlayServerOptions options, std::filesystem::path scratch)
    : world_(world), options_(std::move(options)), scratch_(std::move(scratch)), server_(std::make_unique<httplib::Server>()) {
  if (options_.max_sessions < 1) throw core::Error("--max-sessions must be at least 1");
  if (!(options_.idle_timeout_s > 0)) throw core::Error("--idle-timeout must be positive");
  routes();
}

PlayServer::~PlayServer() { stop(); }

std::shared_ptr<PlayServer::Entry> PlayServer::find(const std::string& id) {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  it->second->last_used_ns = now_ns();
  return it->second;
}

size_t PlayServer::session_count() const {
  std::lock_guard<std::mutex> lock(sessions_mutex_);
  return sessions_.size();
}

void PlayServer::expire_idle() {
  std::vector<std::shared_ptr<Entry>> freed;
  {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    const int64_t now = now_ns();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      // A request under way keeps its session, however long it takes.
      if (it->second->in_flight == 0 && static_cast<double>(now - it->second->last_used_ns) * 1e-9 > options_.idle_timeout_s) {
        spdlog::info("wm play: session {} idle for {:.0f} s: freed", it->first, options_.idle_timeout_s);
        freed.push_back(it->second);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (freed.empty()) return;
  freed.clear();  // a request still holding one keeps it until it ends
  // A long-running server: hand what the sessions held back to the system, not only to malloc.
  ::malloc_trim(0);
}

void PlayServer::routes() {
  httplib::Server& s = *server_;
  s.set_payload_max_length(options_.max_body_bytes);
  s.set_keep_alive_timeout(5);
  // Headers and a frame go out as two writes: without this, Nagle's algorithm holds the second
  // until the client's delayed ACK (40 ms a frame).
  s.set_tcp_nodelay(true);
  // The library listens with a backlog of 5: a burst of new connections would overflow it and
  // lose requests. The listening socket is remembered here and given a deeper queue once bound.
  s.set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listening_socket_ = sock;
  });
  s.set_read_timeout(10);
  s.set_write_timeout(10);
  // Room for every session's request, the waiting steps and a few plain requests (the page,
  // /api/info) besides: a keep-alive connection holds its thread while it is open.
  const int threads = options_.max_sessions + options_.max_waiting_steps + 4;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      reply_error(res, 500, std::string("internal error: ") + e.what());
    } catch (...) {
      reply_error(res, 500, "internal error");
    }
  });

  // Only this machine's pages may drive it when it listens on loopback: a Host naming anything
  // else (a DNS-rebound name) is refused, and a POST must say it sends JSON (a form another
  // site submits cannot).
  const bool loopback = options_.host == "127.0.0.1" || options_.host == "localhost" || options_.host == "::1";
  s.set_pre_routing_handler([loopback](const httplib::Request& req, httplib::Response& res) {
    if (loopback) {
      const std::string host = req.get_header_value("Host");
      const std::string name = host.rfind('[', 0) == 0 ? host.substr(0, host.find(']') + 1) : host.substr(0, host.find(':'));
      if (!host.empty() && name != "127.0.0.1" && name != "localhost" && name != "[::1]") {
        reply_error(res, 403, "Host '" + host + "' is not this machine's loopback");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (req.method == "POST" && req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
      reply_error(res, 415, "POST bodies are JSON: send Content-Type: application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(play_page_html(), "text/html; charset=utf-8"); });

  s.Get("/api/info", [this](const httplib::Request&, httplib::Response& res) {
    const auto& w = world_.models().world->options();
    const auto& t = world_.models().tokenizer->options();
    nlohmann::json actions = w.discrete_actions()
                                 ? nlohmann::json{{"discrete", true}, {"n", w.num_actions}, {"names", world_.action_names()}}
                                 : nlohmann::json{{"discrete", false}, {"dim", w.action_dim}, {"low", world_.action_low()}, {"high", world_.action_high()}};
    const nlohmann::json info = {{"run", world_.options().run.string()},
                                 {"tokenizer", world_.models().tokenizer_path.string()},
                                 {"dynamics", world_.models().dynamics_path.string()},
                                 {"source", world_.source_description()},
                                 {"policy", world_.has_policy()},
                                 {"start_with_policy", world_.options().actions == "policy"},
                                 {"actions", actions},
                                 {"frame", {{"height", t.height}, {"width", t.width}}},
                                 {"context", world_.context()},
                                 {"fps", world_.options().fps},
                                 {"temperature", world_.options().temperature},
                                 {"max_sessions", options_.max_sessions},
                                 {"idle_timeout_s", options_.idle_timeout_s}};
    res.set_content(info.dump(), "application/json");
  });

  s.Post("/api/sessions", [this](const httplib::Request&, httplib::Response& res) {
    static thread_local std::mt19937_64 ids(std::random_device{}());
    auto entry = std::make_shared<Entry>();
    std::string id;
    {
      std::lock_guard<std::mutex> lock(sessions_mutex_);
      if (static_cast<int>(sessions_.size()) >= options_.max_sessions) {
        return reply_error(res, 503, fmt::format("all {} sessions are in use; one is freed after {:.0f} s without requests", options_.max_sessions,
                                                 options_.idle_timeout_s));
      }
      id = fmt::format("{:016x}", ids());
      entry->session = std::make_unique<PlaySession>(world_, world_.options().seed + 7919u * ++next_session_);
      entry->last_used_ns = now_ns();
      sessions_[id] = entry;
    }
    spdlog::info("wm play: session {} opened ({} of {})", id, session_count(), options_.max_sessions);
    res.set_content(nlohmann::json{{"id", id}}.dump(), "application/json");
  });

  // A session's request, one at a time per session; `work` may throw wm::core::Error (a bad
  // request: 400, the session goes on). `dreams`: the request imagines a frame: it is counted
  // against the queue's bound before it waits for anything, and it does not wait behind an
  // earlier frame of its own session (the page sends one at a time): both are 503.
  auto with_session = [this](const httplib::Request& req, httplib::Response& res, bool dreams, const std::function<void(PlaySession&)>& work) {
    const std::shared_ptr<Entry> entry = find(req.matches[1]);
    if (!entry) return reply_error(res, 404, "no session " + std::string(req.matches[1]) + " (it may have expired): open a new one");
    struct InFlight {
      std::atomic<int>& count;
      explicit InFlight(std::atomic<int>& c) : count(c) { ++count; }
      ~InFlight() { --count; }
    };
    const InFlight in_flight(entry->in_flight);
    std::optional<InFlight> waiting;
    if (dreams) {
      waiting.emplace(waiting_steps_);
      if (waiting_steps_ > options_.max_waiting_steps + 1) {
        return reply_error(res, 503, fmt::format("busy: more than {} frames are being dreamed or waiting; try again", options_.max_waiting_steps + 1));
      }
    }
    std::unique_lock<std::mutex> lock(entry->mutex, std::defer_lock);
    if (dreams && !lock.try_lock()) return reply_error(res, 503, "busy: this session's previous frame is still being dreamed");
    if (!dreams) lock.lock();
    try {
      work(*entry->session);
    } catch (const core::Error& e) {
      res.headers.clear();
      reply_error(res, 400, e.what());
    }
    entry->last_used_ns = now_ns();
  };
  // Imagining: the model is one, the cores few: one frame at a time.
  auto imagining = [this](httplib::Response& res, const std::function<PlayFrame()>& work) {
    std::lock_guard<std::mutex> lock(model_mutex_);
    reply_frame(res, work());
  };

  s.Post(R"(/api/sessions/([0-9a-f]+)/restart)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, true, [&](PlaySession& session) {
      body_of(req, {});
      imagining(res, [&] { return session.restart(); });
    });
  });
  s.Post(R"(/api/sessions/([0-9a-f]+)/step)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, true, [&](PlaySession& session) {
      const nlohmann::json body = body_of(req, {"action"});
      if (!body.contains("action")) throw core::Error("the body has no \"action\"");
      const nlohmann::json& given = body["action"];
      const at::Tensor action = given == "policy" ? at::Tensor() : world_.parse_action(given);
      imagining(res, [&] { return session.step(action); });
    });
  });
  s.Get(R"(/api/sessions/([0-9a-f]+)/start.png)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, false, [&](PlaySession& session) {
      if (session.start_png().empty()) throw core::Error("the session has not started yet: POST restart first");
      res.set_content(session.start_png(), "image/png");
    });
  });
  s.Post(R"(/api/sessions/([0-9a-f]+)/temperature)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, false, [&](PlaySession& session) {
      const nlohmann::json body = body_of(req, {"temperature"});
      if (!body.contains("temperature") || !body["temperature"].is_number()) throw core::Error("expected {\"temperature\": a number}");
      session.set_temperature(body["temperature"].get<double>());
      res.set_content(nlohmann::json{{"temperature", session.temperature()}}.dump(), "application/json");
    });
  });
  s.Post(R"(/api/sessions/([0-9a-f]+)/record)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, false, [&](PlaySession& session) {
      const nlohmann::json body = body_of(req, {"on"});
      const bool on = body.value("on", true);
      if (on) session.start_recording();
      else session.stop_recording();
      res.set_content(nlohmann::json{{"recording", on}, {"frames", session.recorded_frames()}}.dump(), "application/json");
    });
  });
  s.Get(R"(/api/sessions/([0-9a-f]+)/recording.mp4)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, false, [&](PlaySession& session) {
      res.set_content(session.recording_mp4(scratch_, world_.options().fps), "video/mp4");
      res.set_header("Content-Disposition", "attachment; filename=\"wm-play.mp4\"");
    });
  });
  s.Get(R"(/api/sessions/([0-9a-f]+)/recording.csv)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, false, [&](PlaySession& session) {
      res.set_content(session.recording_csv(), "text/csv");
      res.set_header("Content-Disposition", "attachment; filename=\"wm-play-actions.csv\"");
    });
  });
  s.Delete(R"(/api/sessions/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<Entry> freed;
    {
      std::lock_guard<std::mutex> lock(sessions_mutex_);
      const auto it = sessions_.find(req.matches[1]);
      if (it == sessions_.end()) return reply_error(res, 404, "no session " + std::string(req.matches[1]));
      freed = it->second;
      sessions_.erase(it);
    }
    freed.reset();
    ::malloc_trim(0);
    res.set_content(R"({"closed": true})", "application/json");
  });
}

int PlayServer::start() {
  port_ = options_.port == 0 ? server_->bind_to_any_port(options_.host) : (server_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port_ <= 0) {
    throw core::Error("wm play: cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                      (options_.port ? " (in use? --port 0 picks a free one)" : ""));
  }
  if (listening_socket_ >= 0) ::listen(listening_socket_, SOMAXCONN);
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the listener runs: wait for it, so that a stop right after start
  // is not lost.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  reaper_ = std::thread([this] {
    while (!stopping_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      expire_idle();
    }
  });
  return port_;
}

void PlayServer::stop() {
  if (stopping_.exchange(true)) return;
  server_->stop();
  if (listener_.joinable()) listener_.join();
  if (reaper_.joinable()) reaper_.join();
}

std::string PlayServer::url() const {
  const bool v6 = options_.host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(port_) + "/";
}

}  // namespace wm::tools
