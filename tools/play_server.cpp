#include "tools/play_server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <malloc.h>

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
  res.set_header("X-Server-Ms", fmt::format("{:.2f}", 1000 * (frame.imagine_s + frame.decode_s + frame.encode_s)));
  res.set_header("Cache-Control", "no-store");
  res.set_content(frame.png, "image/png");
}

// The request's JSON body (an object), or wm::core::Error.
nlohmann::json body_of(const httplib::Request& req) {
  nlohmann::json j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw core::Error("the request body is not a JSON object");
  return j;
}

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
  it->second->last_used = Clock::now();
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
    const auto now = Clock::now();
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (std::chrono::duration<double>(now - it->second->last_used).count() > options_.idle_timeout_s) {
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
  s.set_read_timeout(10);
  s.set_write_timeout(10);
  const int threads = std::max(4, 2 * options_.max_sessions);
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
      entry->last_used = Clock::now();
      sessions_[id] = entry;
    }
    spdlog::info("wm play: session {} opened ({} of {})", id, session_count(), options_.max_sessions);
    res.set_content(nlohmann::json{{"id", id}}.dump(), "application/json");
  });

  // A session's request, one at a time per session; `work` may throw wm::core::Error (a bad
  // request: 400, the session goes on).
  auto with_session = [this](const httplib::Request& req, httplib::Response& res, const std::function<void(PlaySession&)>& work) {
    const std::shared_ptr<Entry> entry = find(req.matches[1]);
    if (!entry) return reply_error(res, 404, "no session " + std::string(req.matches[1]) + " (it may have expired): open a new one");
    std::lock_guard<std::mutex> lock(entry->mutex);
    try {
      work(*entry->session);
    } catch (const core::Error& e) {
      reply_error(res, 400, e.what());
    }
    entry->last_used = Clock::now();
  };
  // Imagining: the model is one, the cores few: steps queue here, up to a bound.
  auto imagining = [this](httplib::Response& res, const std::function<PlayFrame()>& work) {
    if (waiting_steps_.fetch_add(1) >= options_.max_waiting_steps + 1) {
      waiting_steps_.fetch_sub(1);
      return reply_error(res, 503, fmt::format("busy: {} frames are being dreamed or waiting; try again", options_.max_waiting_steps + 1));
    }
    try {
      std::lock_guard<std::mutex> lock(model_mutex_);
      reply_frame(res, work());
    } catch (...) {
      waiting_steps_.fetch_sub(1);
      throw;
    }
    waiting_steps_.fetch_sub(1);
  };

  s.Post(R"(/api/sessions/([0-9a-f]+)/restart)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, [&](PlaySession& session) { imagining(res, [&] { return session.restart(); }); });
  });
  s.Post(R"(/api/sessions/([0-9a-f]+)/step)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, [&](PlaySession& session) {
      const nlohmann::json body = body_of(req);
      if (!body.contains("action")) throw core::Error("the body has no \"action\"");
      const nlohmann::json& given = body["action"];
      const at::Tensor action = given == "policy" ? at::Tensor() : world_.parse_action(given);
      imagining(res, [&] { return session.step(action); });
    });
  });
  s.Get(R"(/api/sessions/([0-9a-f]+)/start.png)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, [&](PlaySession& session) {
      if (session.start_png().empty()) throw core::Error("the session has not started yet: POST restart first");
      res.set_content(session.start_png(), "image/png");
    });
  });
  s.Post(R"(/api/sessions/([0-9a-f]+)/temperature)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, [&](PlaySession& session) {
      const nlohmann::json body = body_of(req);
      if (!body.contains("temperature") || !body["temperature"].is_number()) throw core::Error("expected {\"temperature\": a number}");
      session.set_temperature(body["temperature"].get<double>());
      res.set_content(nlohmann::json{{"temperature", session.temperature()}}.dump(), "application/json");
    });
  });
  s.Post(R"(/api/sessions/([0-9a-f]+)/record)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, [&](PlaySession& session) {
      session.start_recording();
      res.set_content(R"({"recording": true})", "application/json");
    });
  });
  s.Get(R"(/api/sessions/([0-9a-f]+)/recording.mp4)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, [&](PlaySession& session) {
      res.set_header("Content-Disposition", "attachment; filename=\"wm-play.mp4\"");
      res.set_content(session.recording_mp4(scratch_, world_.options().fps), "video/mp4");
    });
  });
  s.Get(R"(/api/sessions/([0-9a-f]+)/recording.csv)", [=](const httplib::Request& req, httplib::Response& res) {
    with_session(req, res, [&](PlaySession& session) {
      res.set_header("Content-Disposition", "attachment; filename=\"wm-play-actions.csv\"");
      res.set_content(session.recording_csv(), "text/csv");
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
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  reaper_ = std::thread([this] {
    while (!stopping_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      expire_idle();
    }
  });
  return port_;
}

void PlayServer::wait() {
  if (listener_.joinable()) listener_.join();
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
