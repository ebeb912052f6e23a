// `wm play` as a user starts it, on a tiny trained run at --port 0: a client of our own over
// loopback drives a session and gets frames of the run's size; a bad action is a 400 with a
// reason and the session goes on; a flood of parallel requests neither crashes the server nor
// keeps its memory once the sessions expire; headless Chromium plays the page with a scripted
// key sequence and shows dreamed frames.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "dataloader/video_reader.h"
#include "test_support.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

// Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian).
std::pair<int, int> png_size(const std::string& png) {
  if (png.size() < 24 || png.compare(1, 3, "PNG") != 0) return {-1, -1};
  auto be32 = [&](size_t at) {
    return (static_cast<uint8_t>(png[at]) << 24) | (static_cast<uint8_t>(png[at + 1]) << 16) | (static_cast<uint8_t>(png[at + 2]) << 8) |
           static_cast<uint8_t>(png[at + 3]);
  };
  return {static_cast<int>(be32(16)), static_cast<int>(be32(20))};
}

// Resident memory of a process, in kB.
int64_t rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

class Play : public test::TinyDrivingRun {
 protected:
  void SetUp() override {
    TinyDrivingRun::SetUp();
    train_tiny_dynamics(10);
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      test::wait_for([&] { return ::kill(pid_, 0) != 0; }, 10);
    }
  }
  // Starts `wm play` on the run in the background; returns its port.
  int start(const std::string& flags = "") {
    const auto out = dir_ / "play.out", err = dir_ / "play.err";
    const auto r = test::run_command("sh -c 'exec " + test::wm_binary() + " play --run " + (dir_ / "d").string() + " --port 0 " + flags + " > " +
                                     out.string() + " 2> " + err.string() + "' & echo $!");
    pid_ = std::stoi(r.out);
    int port = -1;
    test::wait_for(
        [&] {
          std::smatch m;
          const std::string text = std::filesystem::exists(out) ? test::read_bytes(out) : "";
          if (!std::regex_search(text, m, std::regex("http://127\\.0\\.0\\.1:(\\d+)/"))) return false;
          port = std::stoi(m[1]);
          return true;
        },
        60);
    EXPECT_GT(port, 0) << test::read_bytes(err);
    return port;
  }
  std::string open_session(httplib::Client& client) {
    const auto r = client.Post("/api/sessions", "{}", "application/json");
    if (!r || r->status != 200) return "";
    return nlohmann::json::parse(r->body)["id"].get<std::string>();
  }
  int pid_ = -1;
};

TEST_F(Play, AClientDrivesASessionAndGetsFramesOfTheRunsSize) {
  const int port = start();
  httplib::Client client("127.0.0.1", port);
  const auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("wm play"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "the page fetches nothing from elsewhere";
  const auto info = nlohmann::json::parse(client.Get("/api/info")->body);
  EXPECT_EQ(info["actions"]["n"], 9);
  EXPECT_EQ(info["actions"]["names"][4], "AHEAD COAST");

  const std::string id = open_session(client);
  ASSERT_FALSE(id.empty());
  const auto first = client.Post(("/api/sessions/" + id + "/restart").c_str(), "{}", "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(png_size(first->body), std::make_pair(32, 32));
  EXPECT_EQ(first->get_header_value("X-Step"), "0");
  const auto real = client.Get(("/api/sessions/" + id + "/start.png").c_str());
  EXPECT_EQ(png_size(real->body), std::make_pair(32, 32));
  for (int step = 1; step <= 8; ++step) {
    const auto r = client.Post(("/api/sessions/" + id + "/step").c_str(), nlohmann::json{{"action", step % 9}}.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "image/png");
    EXPECT_EQ(png_size(r->body), std::make_pair(32, 32)) << "step " << step;
    EXPECT_EQ(r->get_header_value("X-Step"), std::to_string(step));
    const double done = std::stod(r->get_header_value("X-Done-Probability"));
    EXPECT_TRUE(done >= 0 && done <= 1) << done;
    EXPECT_TRUE(std::isfinite(std::stod(r->get_header_value("X-Reward"))));
  }
  // Recording: the frames from here on as an mp4 and the actions as CSV.
  ASSERT_EQ(client.Post(("/api/sessions/" + id + "/record").c_str(), "{}", "application/json")->status, 200);
  for (int step = 0; step < 3; ++step) client.Post(("/api/sessions/" + id + "/step").c_str(), R"({"action": 5})", "application/json");
  const auto csv = client.Get(("/api/sessions/" + id + "/recording.csv").c_str());
  EXPECT_EQ(std::count(csv->body.begin(), csv->body.end(), '\n'), 4) << csv->body;
  EXPECT_NE(csv->body.find("\"AHEAD GAS\""), std::string::npos) << csv->body;
  const auto mp4 = client.Get(("/api/sessions/" + id + "/recording.mp4").c_str());
  ASSERT_EQ(mp4->status, 200) << mp4->body;
  const auto video = dir_ / "rec.mp4";
  test::write_text(video, mp4->body);
  EXPECT_EQ(dataloader::VideoReader(video, {}).info().frames, 3);
}

TEST_F(Play, ABadRequestIsA400WithItsReasonAndTheSessionGoesOn) {
  const int port = start();
  httplib::Client client("127.0.0.1", port);
  const std::string id = open_session(client);
  const std::string step = "/api/sessions/" + id + "/step";
  client.Post(("/api/sessions/" + id + "/restart").c_str(), "{}", "application/json");
  struct Bad {
    std::string body, reason;
  };
  for (const Bad& bad : {Bad{R"({"action": 9})", "action 9 is outside 0..8"}, Bad{R"({"action": -1})", "action -1 is outside 0..8"},
                         Bad{R"({"action": "left"})", "expected an integer 0..8"}, Bad{R"({"action": [1, 2]})", "expected an integer 0..8"},
                         Bad{R"({"move": 1})", "unknown key \"move\""}, Bad{R"({"action": 4, "x": 1})", "unknown key \"x\""},
                         Bad{"{}", "the body has no \"action\""}, Bad{"not json", "not a JSON object"}}) {
    const auto r = client.Post(step.c_str(), bad.body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad.body;
    EXPECT_NE(r->body.find(bad.reason), std::string::npos) << bad.body << " -> " << r->body;
    EXPECT_EQ(std::count(r->body.begin(), r->body.end(), '\n'), 1) << "one line: " << r->body;
  }
  const auto ok = client.Post(step.c_str(), R"({"action": 4})", "application/json");
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(ok->get_header_value("X-Step"), "1") << "the bad requests took no step";
  EXPECT_EQ(client.Post("/api/sessions/0123456789abcdef/step", R"({"action": 4})", "application/json")->status, 404);
  EXPECT_EQ(client.Post(step.c_str(), std::string(100000, ' '), "application/json")->status, 413) << "bodies are bounded";
  EXPECT_EQ(client.Post(("/api/sessions/" + id + "/temperature").c_str(), R"({"temperature": -1})", "application/json")->status, 400);
  EXPECT_EQ(client.Post(step.c_str(), R"({"action": 4})", "text/plain")->status, 415) << "a form another site posts is not JSON";
  EXPECT_EQ(client.Get("/api/info", {{"Host", "attacker.example:80"}})->status, 403) << "a DNS-rebound name is not loopback";
  EXPECT_EQ(client.Get("/etc/passwd")->status, 404) << "no file from disk is served";
  EXPECT_EQ(client.Get("/../tools/play_page.html")->status, 404);

  // A client that sends a step and hangs up before its frame: the server goes on.
  {
    httplib::Client quitter("127.0.0.1", port);
    quitter.set_read_timeout(0, 1000);  // gives up after 1 ms, mid-frame
    quitter.Post(step.c_str(), R"({"action": 4})", "application/json");
  }
  bool next_served = false;
  for (int attempt = 0; attempt < 50 && !next_served; ++attempt) {
    const auto r = client.Post(step.c_str(), R"({"action": 4})", "application/json");
    ASSERT_TRUE(r) << "the server died";
    next_served = r->status == 200;
    if (!next_served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(next_served);
}

TEST_F(Play, AFloodOfParallelRequestsIsServedOrTurnedAwayAndMemoryReturnsAfterTheSessionsExpire) {
  const int port = start("--max-sessions 4 --idle-timeout 2");
  httplib::Client client("127.0.0.1", port);
  ASSERT_EQ(client.Get("/api/info")->status, 200);
  // Idle, warm: one session has dreamed (torch's one-time buffers and thread pools exist) and
  // is closed.
  const std::string warm = open_session(client);
  ASSERT_EQ(client.Post(("/api/sessions/" + warm + "/step").c_str(), R"({"action": 5})", "application/json")->status, 200);
  ASSERT_EQ(client.Delete(("/api/sessions/" + warm).c_str())->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t idle = rss_kb(pid_);

  // Every place taken, 100 frames asked at once (25 on each session), then idle until the
  // sessions expire; the resident memory once they have.
  auto flood_and_expire = [&] {
    std::vector<std::string> ids;
    for (int s = 0; s < 4; ++s) ids.push_back(open_session(client));
    for (const auto& id : ids) EXPECT_FALSE(id.empty());
    const auto fifth = client.Post("/api/sessions", "{}", "application/json");
    EXPECT_EQ(fifth->status, 503) << "at most --max-sessions";
    EXPECT_NE(fifth->body.find("all 4 sessions are in use"), std::string::npos) << fifth->body;
    std::vector<std::string> answers(100);
    std::vector<std::thread> threads;
    for (int i = 0; i < 100; ++i) {
      threads.emplace_back([&, i] {
        httplib::Client c("127.0.0.1", port);
        c.set_connection_timeout(60);
        c.set_read_timeout(60);
        const auto r = c.Post(("/api/sessions/" + ids[static_cast<size_t>(i % 4)] + "/step").c_str(), R"({"action": 5})", "application/json");
        answers[static_cast<size_t>(i)] = r ? std::to_string(r->status) : "no answer: " + httplib::to_string(r.error());
      });
    }
    for (auto& t : threads) t.join();
    int served = 0, busy = 0;
    for (const std::string& a : answers) {
      served += a == "200";
      busy += a == "503";
      EXPECT_TRUE(a == "200" || a == "503") << a;
    }
    EXPECT_GT(served, 0);
    EXPECT_GT(busy, 0) << "25 frames at once on one session: those arriving while its frame is dreamed are turned away";
    EXPECT_EQ(client.Get("/api/info")->status, 200) << "the server survived";
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // > --idle-timeout
    return rss_kb(pid_);
  };
  const int64_t first = flood_and_expire();
  flood_and_expire();
  const int64_t third = flood_and_expire();
  EXPECT_NE(open_session(client), "") << "the expired sessions' places are free again";
  // Back near the idle level (the allocator keeps a little), and more floods do not pile up
  // what the sessions held (4 sessions' caches and frames each time).
  EXPECT_LE(first, idle + 32 * 1024) << "memory after the sessions expired " << first << " kB, idle " << idle << " kB";
  EXPECT_LE(third, first + 16 * 1024) << "after a third flood " << third << " kB, after the first " << first << " kB";
}

TEST_F(Play, HeadlessChromiumPlaysAScriptedKeySequenceAndShowsTheDream) {
  const int port = start();
  const std::string url = "'http://127.0.0.1:" + std::to_string(port) + "/?keys=LLLUUURRRDDDNNN&frames=15'";
  const std::string chromium = "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --mute-audio --user-data-dir=" +
                               (dir_ / "chromium-profile").string() + " --virtual-time-budget=30000";
  const auto dom = test::run_command("timeout 120 " + chromium + " --dump-dom " + url);
  ASSERT_EQ(dom.exit_code, 0) << "headless Chromium (Debian's chromium, installed by scripts/setup.sh) failed: " << dom.err;
  EXPECT_NE(dom.out.find("<p id=\"status\">done after 15 frames</p>"), std::string::npos) << dom.out.substr(0, 4000);
  EXPECT_NE(dom.out.find("<td id=\"frames-shown\">15</td>"), std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.out, m, std::regex("data-pixel-std=\"([0-9.]+)\""))) << dom.out.substr(0, 4000);
  EXPECT_GT(std::stod(m[1]), 1.0) << "the dreamed frame is not blank";

  const auto shot = dir_ / "play.png";
  const auto s = test::run_command("timeout 120 " + chromium + " --window-size=1000,700 --screenshot=" + shot.string() + " " + url);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  dataloader::VideoReader png(shot, {});
  ASSERT_EQ(png.info().width, 1000);
  std::vector<uint8_t> rgb(static_cast<size_t>(png.info().width) * png.info().height * 3);
  ASSERT_TRUE(png.read(rgb.data()));
  EXPECT_GT(std::set<uint8_t>(rgb.begin(), rgb.end()).size(), 50u) << "the screenshot is blank";
}

}  // namespace
}  // namespace wm
