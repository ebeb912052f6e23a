// `wm dream` after a tiny world model, as a user runs it: the video decodes to the frames and
// size drawn, the GIF is one FFmpeg reads, the error curve is well formed and starts at the
// tokenizer's own error; with horizon 0 the real and reconstruction panels are the inputs;
// bad input is one line and leaves no file behind; the report renders in headless Chromium
// with its video's duration and its charts' points.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "dataloader/episode_store.h"
#include "dataloader/video_reader.h"
#include "test_support.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/dream_render.h"
#include "tools/dream_rollout.h"
#include "tools/tiny_driving_run.h"

namespace wm {
namespace {

class Dream : public test::TinyDrivingRun {
 protected:
  std::string dream_command(const std::filesystem::path& out, const std::string& extra = "", int context = 2, int horizon = 3) const {
    return test::wm_binary() + " dream --run " + (dir_ / "d").string() + " --tokenizer " + (dir_ / "tok.ckpt").string() + " --context " +
           std::to_string(context) + " --horizon " + std::to_string(horizon) + " --samples 2 --starts 3 --video-starts 2 --fps 5 --out " + out.string() + extra;
  }
  static std::vector<std::string> files_in(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    if (!std::filesystem::exists(dir)) return names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    return names;
  }
};

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> fields;
  std::stringstream s(line);
  for (std::string f; std::getline(s, f, sep);) fields.push_back(f);
  if (!line.empty() && line.back() == sep) fields.push_back("");
  return fields;
}

TEST_F(Dream, WritesAVideoGifSheetAndAnErrorCurveThatStartsAtTheTokenizersError) {
  train_tiny_dynamics(5);
  const auto out = dir_ / "dreams";
  const auto r = test::run_command(dream_command(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"dream.mp4", "dream.gif", "contact_sheet.png", "errors.csv", "errors.json", "error_curve.svg", "report.html"}) {
    EXPECT_NE(r.out.find((out / name).string()), std::string::npos) << name << " not listed: " << r.out;
    EXPECT_TRUE(std::filesystem::is_regular_file(out / name)) << name;
  }
  EXPECT_EQ(files_in(out).size(), 7u) << "no temporary files stay behind";

  // 2 starts x (2 context + 3 dreamed) frames, at the layout's size: 32 x 32 frames with the
  // real, reconstruction and 2 dream panels.
  const tools::DreamFrameLayout layout = tools::dream_frame_layout(32, 32, 2);
  EXPECT_GE(layout.width, 4 * 32 * layout.scale);
  dataloader::VideoReader video(out / "dream.mp4", {});
  EXPECT_EQ(video.info().codec, "h264");
  EXPECT_EQ(video.info().frames, 10);
  EXPECT_EQ(video.info().width, layout.width);
  EXPECT_EQ(video.info().height, layout.height);
  std::vector<uint8_t> rgb(static_cast<size_t>(layout.width) * layout.height * 3);
  int64_t decoded = 0;
  while (video.read(rgb.data())) ++decoded;
  EXPECT_EQ(decoded, 10);
  const auto probe = test::run_command("ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 " +
                                       (out / "dream.gif").string());
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  EXPECT_EQ(probe.out, "gif," + std::to_string(layout.width) + "," + std::to_string(layout.height) + ",10\n");

  // The error curve: steps 0..3, one row each with every column; at step 0 the dream is the
  // reconstruction of the last real frame.
  std::ifstream csv(out / "errors.csv");
  std::string header;
  std::getline(csv, header);
  const auto columns = split(header, ',');
  ASSERT_EQ(columns.size(), 10u) << header;
  EXPECT_EQ(columns[0], "step");
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(csv, line);) rows.push_back(split(line, ','));
  ASSERT_EQ(rows.size(), 4u);
  for (size_t k = 0; k < rows.size(); ++k) {
    ASSERT_EQ(rows[k].size(), columns.size()) << "row " << k;
    EXPECT_EQ(rows[k][0], std::to_string(k));
    EXPECT_EQ(rows[k][9], "6") << "3 starts x 2 samples compared";
  }
  EXPECT_EQ(rows[0][1], rows[0][2]) << "step 0: dream PSNR = reconstruction PSNR";
  EXPECT_EQ(rows[0][3], "1");
  EXPECT_EQ(rows[0][4], "") << "no reward leads to the last real frame's dream";
  for (size_t k = 1; k < rows.size(); ++k) EXPECT_FALSE(rows[k][4].empty()) << "reward error at step " << k;
  const auto json = nlohmann::json::parse(test::read_bytes(out / "errors.json"));
  ASSERT_EQ(json["steps"].size(), 4u);
  EXPECT_EQ(json["steps"][0]["psnr_dream_db"], json["steps"][0]["psnr_reconstruction_db"]);
  EXPECT_TRUE(json["steps"][0]["reward_abs_error"].is_null());
  EXPECT_EQ(json["comparable"], true);
  EXPECT_EQ(json["horizon"], 3);
}

TEST_F(Dream, WithHorizonZeroTheRealAndReconstructionPanelsAreTheInputs) {
  train_tiny_dynamics(5);
  test::TempDir scratch;
  tools::DreamOptions options{.run = dir_ / "d", .tokenizer = (dir_ / "tok.ckpt").string()};
  options.context = 3;
  options.horizon = 0;
  options.samples = 1;
  options.starts = 2;
  const tools::DreamResult result = tools::dream_from_run(options, scratch.path());
  const tools::DreamSet& set = result.set;
  ASSERT_EQ(set.real_frames.size(1), 3);
  ASSERT_EQ(set.dream_frames.size(2), 0);

  // The real frames are the store's, in order: each start's first frame found in an episode,
  // the next ones follow it.
  dataloader::EpisodeStore store(dir_ / "d" / "episodes", dataloader::EpisodeStore::Mode::kRead);
  for (int64_t n = 0; n < 2; ++n) {
    bool found = false;
    for (int64_t e = 0; e < store.num_episodes() && !found; ++e) {
      const at::Tensor frames = store.load(e).frames;
      for (int64_t t = 0; t + 3 <= frames.size(0) && !found; ++t) found = torch::equal(frames.narrow(0, t, 3), set.real_frames[n]);
    }
    EXPECT_TRUE(found) << "start " << n << "'s frames are not three consecutive frames of the store";
  }
  // The reconstruction is the tokenizer's: decode(encode(real)).
  tokenizer::VQModel tokenizer = tokenizer::load_tokenizer(dir_ / "tok.ckpt", c10::Device(c10::kCPU)).model;
  tokenizer->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor flat = set.real_frames.reshape({6, 32, 32, 3});
  const at::Tensor tokens = tokenizer->encode(flat);
  EXPECT_TRUE(torch::equal(tokenizer->decode(tokens).reshape(set.recon_frames.sizes()), set.recon_frames));
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].psnr_dream, result.errors[0].psnr_reconstruction);

  // With a horizon, recorded dreams take the actions taken after the last real frame on.
  options.horizon = 4;
  const tools::DreamResult dreamed = tools::dream_from_run(options, scratch.path());
  ASSERT_EQ(dreamed.set.dream_actions.size(2), 4);
  EXPECT_TRUE(torch::equal(dreamed.set.dream_actions[0], dreamed.set.real_actions.narrow(1, 2, 4)));

  // In the video the real panel is the real frame upscaled, the reconstruction panel its
  // reconstruction, pixel for pixel.
  const std::vector<viz::Image> frames = tools::dream_video_frames(set, result.description, 2);
  ASSERT_EQ(frames.size(), 6u);
  const tools::DreamFrameLayout layout = tools::dream_frame_layout(32, 32, 1);
  const int s = layout.scale, panel = 32 * s;
  const int top = 6 + (viz::kGlyphHeight * layout.text_scale + 2) + 4;  // the gap and the title bar
  for (int64_t f = 0; f < 6; ++f) {
    const at::Tensor real = set.real_frames[f / 3][f % 3], recon = set.recon_frames[f / 3][f % 3];
    for (int y = 0; y < panel; y += 5) {
      for (int x = 0; x < panel; x += 5) {
        for (int c = 0; c < 3; ++c) {
          ASSERT_EQ(frames[f].at(top + y, 6 + x)[c], real[y / s][x / s][c].item<uint8_t>()) << "frame " << f << " real panel " << y << "," << x;
          ASSERT_EQ(frames[f].at(top + y, 6 + panel + 6 + x)[c], recon[y / s][x / s][c].item<uint8_t>()) << "frame " << f << " reconstruction panel";
        }
      }
    }
  }
}

TEST(DreamErrors, ADreamThatIsRealitySteppedOnHasNoErrorAtAnyStep) {
  // A hand-built set: 2 starts, context 2, horizon 3; each dream step equals the real frame,
  // reward and episode end it stands for, so every step must show a perfect dream.
  const int64_t N = 2, C = 2, H = 3, T = C + H, K = 4;
  tools::DreamSet set;
  set.context = C;
  set.real_frames = torch::randint(0, 256, {N, T, 8, 8, 3}, torch::kUInt8);
  set.real_valid = torch::ones({N, T}, torch::kBool);
  set.recon_frames = (set.real_frames.to(torch::kInt) + 3).clamp_max(255).to(torch::kUInt8);
  set.real_tokens = torch::randint(0, 50, {N, T, K}, torch::kLong);
  set.real_actions = torch::randint(0, 9, {N, T}, torch::kLong);
  set.real_rewards = torch::rand({N, T});
  set.real_dones = torch::zeros({N, T}, torch::kBool);
  set.real_dones[1][C + 1] = true;  // the episode of start 1 ends after step C + 1
  // Dream step h stands for real frame C + h and the reward and end of the action after C - 1 + h.
  set.dream_tokens = set.real_tokens.narrow(1, C, H).unsqueeze(0);
  set.dream_frames = set.real_frames.narrow(1, C, H).unsqueeze(0);
  set.dream_rewards = set.real_rewards.narrow(1, C - 1, H).unsqueeze(0);
  set.dream_done_probs = set.real_dones.narrow(1, C - 1, H).to(torch::kFloat).unsqueeze(0);
  set.dream_actions = set.real_actions.narrow(1, C - 1, H).unsqueeze(0);
  const std::vector<tools::DreamStepError> errors = tools::dream_errors(set);
  ASSERT_EQ(errors.size(), static_cast<size_t>(H + 1));
  for (int64_t k = 1; k <= H; ++k) {
    EXPECT_DOUBLE_EQ(errors[k].token_accuracy, 1.0) << "step " << k;
    EXPECT_DOUBLE_EQ(errors[k].psnr_dream, 100.0) << "identical frames";
    EXPECT_NEAR(errors[k].reward_abs_error, 0.0, 1e-9) << "step " << k;
    EXPECT_DOUBLE_EQ(errors[k].done_agreement, 1.0) << "step " << k;
    EXPECT_EQ(errors[k].compared, N);
  }
  EXPECT_LT(errors[0].psnr_reconstruction, 100.0);
  // Off by one step, the same dream is wrong.
  set.dream_tokens = set.real_tokens.narrow(1, C - 1, H).unsqueeze(0);
  EXPECT_LT(tools::dream_errors(set)[1].token_accuracy, 0.5);
}

TEST_F(Dream, BadInputIsOneLineAndLeavesNoFileBehind) {
  const auto out = dir_ / "out";
  // Collected, never trained: no dynamics checkpoint.
  auto r = test::run_command(dream_command(out));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no valid dynamics checkpoint"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "a failed dream made its output folder";

  train_tiny_dynamics(5);
  r = test::run_command(dream_command(out, "", /*context=*/4));  // the tiny model sees 4 steps
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("dynamics.context_steps"), std::string::npos) << r.err;

  std::ofstream(dir_ / "bad.csv") << "action\n3\n12\n1\n";
  r = test::run_command(dream_command(out, " --actions file:" + (dir_ / "bad.csv").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.csv:3: action 12"), std::string::npos) << r.err;

  r = test::run_command(dream_command(out, "", 2, /*horizon=*/200));  // episodes of 40 steps
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("202 needed"), std::string::npos) << r.err;

  r = test::run_command(dream_command(out, " --from video:" + (dir_ / "missing.mp4").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing.mp4 does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out)) << "a failed dream left " << out << " behind";
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".dream.tmp"), std::string::npos) << entry.path();
  }
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  // Constant actions from a CSV that fits do work.
  std::ofstream(dir_ / "good.csv") << "8\n8\n0\n";
  r = test::run_command(dream_command(out, " --actions file:" + (dir_ / "good.csv").string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto json = nlohmann::json::parse(test::read_bytes(out / "errors.json"));
  EXPECT_EQ(json["comparable"], false);
}

TEST_F(Dream, TheReportRendersInHeadlessChromiumWithItsVideoAndCharts) {
  train_tiny_dynamics(5);
  const auto out = dir_ / "dreams";
  ASSERT_EQ(test::run_command(dream_command(out)).exit_code, 0);
  const std::string url = "file://" + std::filesystem::absolute(out / "report.html").string();
  const std::string chromium = "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --mute-audio --user-data-dir=" +
                               (dir_ / "chromium-profile").string() + " --virtual-time-budget=5000";
  const auto dom = test::run_command("timeout 90 " + chromium + " --dump-dom " + url);
  ASSERT_EQ(dom.exit_code, 0) << "headless Chromium (Debian's chromium, installed by scripts/setup.sh) failed: " << dom.err;

  // The page's own script wrote what the browser made of it: the video's duration (10
  // frames at 5 fps) and the points of every chart.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.out, m, std::regex("data-video-duration=\"([^\"]*)\""))) << dom.out.substr(0, 2000);
  EXPECT_NEAR(std::stod(m[1]), 2.0, 0.05) << m[1];
  ASSERT_TRUE(std::regex_search(dom.out, m, std::regex("data-chart-points=\"([^\"]*)\"")));
  const auto points = nlohmann::json::parse(std::regex_replace(m[1].str(), std::regex("&quot;"), "\""));
  ASSERT_GE(points.size(), 4u) << "3 error charts and at least the dynamics training curves";
  EXPECT_EQ(points[0], 8) << "PSNR: 4 steps, dream and ceiling";
  for (const auto& p : points) EXPECT_GT(p.get<int>(), 0);

  // A screenshot that is not blank: the page's pixels vary.
  const auto shot = dir_ / "report.png";
  const auto s = test::run_command("timeout 90 " + chromium + " --window-size=1000,1400 --screenshot=" + shot.string() + " " + url);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  dataloader::VideoReader png(shot, {});
  ASSERT_EQ(png.info().width, 1000);
  std::vector<uint8_t> rgb(static_cast<size_t>(png.info().width) * png.info().height * 3);
  ASSERT_TRUE(png.read(rgb.data()));
  const at::Tensor pixels = torch::from_blob(rgb.data(), {static_cast<int64_t>(rgb.size())}, torch::kUInt8).to(torch::kFloat);
  EXPECT_GT(pixels.std().item<double>(), 20.0) << "the screenshot is blank";
  EXPECT_GT(std::set<uint8_t>(rgb.begin(), rgb.end()).size(), 100u);
}

}  // namespace
}  // namespace wm
