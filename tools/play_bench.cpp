#include "tools/play_bench.h"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <chrono>
#include <random>
#include <unistd.h>

#include "core/build_info.h"
#include "core/device.h"
#include "core/error.h"
#include "tools/play_server.h"

namespace wm::tools {

std::vector<bench::BenchRecord> run_play_bench(const PlayBenchOptions& options) {
  if (options.frames < 1) throw core::Error("--frames must be at least 1");
  const std::filesystem::path scratch = std::filesystem::temp_directory_path() / ("wm_bench_play_" + std::to_string(::getpid()));
  std::filesystem::create_directories(scratch);
  PlayOptions play;
  play.run = options.run;
  play.from = options.from;
  play.seed = options.seed;
  play.device = options.device;
  PlayWorld world(play, scratch);
  PlayServer server(world, PlayServerOptions{}, scratch);
  const int port = server.start();

  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);  // as browsers send
  auto post = [&](const std::string& path, const std::string& body) {
    auto r = client.Post(path.c_str(), body, "application/json");
    if (!r || r->status != 200) {
      throw core::Error("wm bench play: POST " + path + " failed: " + (r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error())));
    }
    return r;
  };
  const std::string id = nlohmann::json::parse(post("/api/sessions", "{}")->body)["id"].get<std::string>();
  const std::string session = "/api/sessions/" + id;
  post(session + "/restart", "{}");
  // Random actions, as a person pressing keys would send them.
  const auto& w = world.models().world->options();
  std::mt19937_64 rng(options.seed);
  auto random_action = [&]() -> nlohmann::json {
    if (w.discrete_actions()) return std::uniform_int_distribution<int64_t>(0, w.num_actions - 1)(rng);
    std::vector<double> a;
    for (int64_t i = 0; i < w.action_dim; ++i) a.push_back(std::uniform_real_distribution<double>(world.action_low()[i], world.action_high()[i])(rng));
    return a;
  };
  post(session + "/step", nlohmann::json{{"action", random_action()}}.dump());  // warm-up
  double server_ms = 0;
  size_t png_bytes = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int64_t f = 0; f < options.frames; ++f) {
    const auto r = post(session + "/step", nlohmann::json{{"action", random_action()}}.dump());
    server_ms += std::stod(r->get_header_value("X-Server-Ms"));
    png_bytes += r->body.size();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  server.stop();
  std::filesystem::remove_all(scratch);

  // The server's split of a frame, measured on a session of its own.
  PlaySession probe(world, options.seed + 1);
  probe.restart();
  double imagine = 0, decode = 0, encode = 0;
  for (int64_t f = 0; f < options.frames; ++f) {
    const PlayFrame frame = probe.step(world.parse_action(random_action()));
    imagine += frame.imagine_s, decode += frame.decode_s, encode += frame.encode_s;
  }
  const double n = static_cast<double>(options.frames);
  const auto& t = world.models().tokenizer->options();
  const nlohmann::ordered_json context = {{"run", options.run.string()},
                                          {"dynamics", world.models().dynamics_path.string()},
                                          {"layers", w.layers},
                                          {"width", w.width},
                                          {"tokens_per_frame", w.tokens_per_frame},
                                          {"decoding", w.decoding == dynamics::Decoding::kParallel ? "parallel" : "autoregressive"},
                                          {"frame", std::to_string(t.height) + "x" + std::to_string(t.width)},
                                          {"frames", options.frames},
                                          {"png_bytes_per_frame", static_cast<double>(png_bytes) / n},
                                          {"device", world.device().str()},
                                          {"threads", at::get_num_threads()},
                                          {"cpu", core::build_info().cpu_capability}};
  std::vector<bench::BenchRecord> records;
  records.push_back({.bench = "play", .metric = "frames_per_s_end_to_end", .value = n / seconds, .context = context});
  records.push_back({.bench = "play", .metric = "server_ms_per_frame", .value = server_ms / n, .context = context});
  records.push_back({.bench = "play", .metric = "imagine_ms_per_frame", .value = 1000 * imagine / n, .context = context});
  records.push_back({.bench = "play", .metric = "decode_ms_per_frame", .value = 1000 * decode / n, .context = context});
  records.push_back({.bench = "play", .metric = "encode_ms_per_frame", .value = 1000 * encode / n, .context = context});
  return records;
}

}  // namespace wm::tools
