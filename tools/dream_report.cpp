#include "tools/dream_report.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "tools/dream_render.h"
#include "viz/svg_chart.h"
#include "viz/video_writer.h"

namespace wm::tools {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The staging folder: removed with whatever it holds unless everything was moved out.
class Staging {
 public:
  explicit Staging(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~Staging() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

std::string base64(const std::string& bytes) {
  static const char* kDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) | (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += {kDigits[v >> 18], kDigits[(v >> 12) & 63], kDigits[(v >> 6) & 63], kDigits[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    out += {kDigits[v >> 18], kDigits[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) | (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8);
    out += {kDigits[v >> 18], kDigits[(v >> 12) & 63], kDigits[(v >> 6) & 63], '='};
  }
  return out;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.flush()) throw core::Error("cannot write " + path.string());
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

void write_video(const std::filesystem::path& path, const std::vector<viz::Image>& frames, double fps) {
  viz::VideoWriter writer(path, frames.front().height, frames.front().width, {.fps = fps, .quality = 18});
  for (const viz::Image& f : frames) writer.write(f.pixels.data());
  writer.close();
}

// The error curve: PSNR against the tokenizer's ceiling; token accuracy and termination
// agreement; the reward's error.
std::vector<std::string> error_charts(const std::vector<DreamStepError>& errors, bool comparable) {
  auto series = [&](const std::string& name, double DreamStepError::*field, bool dashed = false) {
    viz::ChartSeries s{.name = name, .dashed = dashed};
    for (const DreamStepError& e : errors) {
      s.x.push_back(static_cast<double>(e.step));
      s.y.push_back(e.*field);
    }
    return s;
  };
  const std::string against = comparable ? "" : " (reality took other actions)";
  return {viz::svg_line_chart({series("dream", &DreamStepError::psnr_dream), series("tokenizer reconstruction (ceiling)", &DreamStepError::psnr_reconstruction, true)},
                              {.title = "Dream against reality: PSNR" + against, .x_label = "steps after the last real frame", .y_label = "PSNR (dB)"}),
          viz::svg_line_chart({series("token accuracy", &DreamStepError::token_accuracy), series("termination agreement", &DreamStepError::done_agreement)},
                              {.title = "Tokens and termination" + against, .x_label = "steps after the last real frame", .y_label = "share"}),
          viz::svg_line_chart({series("predicted reward", &DreamStepError::predicted_reward), series("real reward", &DreamStepError::real_reward, true),
                               series("|predicted - real|", &DreamStepError::reward_abs_error)},
                              {.title = "Reward" + against, .x_label = "steps after the last real frame", .y_label = "reward per step"})};
}

// The run's training curves from metrics.jsonl: one chart per group of keys that has points.
std::vector<std::string> training_charts(const std::filesystem::path& metrics) {
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> points;  // key -> (steps, values)
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number()) continue;
    for (const auto& [key, value] : j.items()) {
      if (!value.is_number() || key == "step" || key == "time" || key == "time_s") continue;
      points[key].first.push_back(j["step"].get<double>());
      points[key].second.push_back(value.get<double>());
    }
  }
  struct Spec {
    std::string title, x_label, y_label;
    std::vector<std::pair<std::string, std::string>> keys;  // (key, legend); a legend ending in '*' is dashed
  };
  const std::vector<Spec> specs = {
      {"Tokenizer: reconstruction", "tokenizer step", "PSNR (dB)",
       {{"tokenizer/psnr_db", "training"}, {"tokenizer/holdout_psnr_db", "held out"}, {"tokenizer/holdout_mean_frame_psnr_db", "mean frame*"}}},
      {"Tokenizer: loss", "tokenizer step", "loss", {{"tokenizer/loss", "total"}, {"tokenizer/recon_l1", "L1"}, {"tokenizer/commitment", "commitment"}}},
      {"Tokenizer: codebook usage", "tokenizer step", "share of codes", {{"tokenizer/codebook_usage", "training"}, {"tokenizer/holdout_code_usage", "held out"}}},
      {"Dynamics: next-frame bits per token", "dynamics step", "bits / token",
       {{"dynamics/next_frame_bits", "training"}, {"dynamics/holdout_next_frame_bits", "held out"}, {"dynamics/holdout_copy_bits", "copy previous frame*"},
        {"dynamics/holdout_unigram_bits", "unigram*"}}},
      {"Dynamics: loss", "dynamics step", "loss", {{"dynamics/loss", "total"}, {"dynamics/reward_loss", "reward"}, {"dynamics/done_loss", "termination"}}},
      {"Policy: return in imagination", "policy step", "imagined return", {{"policy/imagined_return", "imagined"}, {"policy/lambda_return", "lambda-return"}}},
      {"Policy: entropy", "policy step", "nats", {{"policy/entropy", "entropy"}}},
      {"Real-environment returns", "real steps", "return",
       {{"loop/eval_return_mean", "evaluation mean"}, {"collect/episode_return", "collected episodes"}, {"model_free/episode_return", "training episodes"}}},
  };
  std::vector<std::string> charts;
  for (const Spec& spec : specs) {
    std::vector<viz::ChartSeries> series;
    for (const auto& [key, legend] : spec.keys) {
      auto found = points.find(key);
      if (found == points.end()) continue;
      const bool dashed = !legend.empty() && legend.back() == '*';
      series.push_back({.name = dashed ? legend.substr(0, legend.size() - 1) : legend, .x = found->second.first, .y = found->second.second, .dashed = dashed});
    }
    if (!series.empty()) charts.push_back(viz::svg_line_chart(series, {.title = spec.title, .x_label = spec.x_label, .y_label = spec.y_label}));
  }
  return charts;
}

std::string fmt(double v, int decimals) {
  if (!std::isfinite(v)) return "&ndash;";
  char text[32];
  std::snprintf(text, sizeof(text), "%.*f", decimals, v);
  return text;
}

std::string report_html(const DreamOptions& options, const DreamResult& result, const DreamReport& report, const std::string& video_bytes,
                        const std::vector<std::string>& charts, const std::vector<std::string>& train_charts) {
  const DreamDescription& d = result.description;
  const int64_t S = result.set.dream_tokens.size(0), N = result.set.real_frames.size(0);
  std::ostringstream h;
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>wm dream: " << viz::escape_xml(d.run) << "</title>\n<style>\n"
    << "body{font-family:sans-serif;margin:24px;background:#fafafa;color:#222;max-width:1240px}\n"
    << "h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;font-size:13px}\n"
    << "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}\n"
    << ".charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #ddd}video{max-width:100%;background:#000}\n"
    << ".note{color:#555;font-size:13px}</style></head>\n<body>\n";
  h << "<h1>What the world model dreams, beside reality</h1>\n<table>\n";
  auto row = [&](const std::string& k, const std::string& v) { h << "<tr><th class=\"l\">" << k << "</th><td class=\"l\">" << viz::escape_xml(v) << "</td></tr>\n"; };
  row("run", d.run);
  row("tokenizer", d.tokenizer);
  row("dynamics", d.dynamics);
  if (!d.policy.empty()) row("policy", d.policy);
  row("source", d.source + " (" + d.split + ")");
  row("actions", d.actions);
  row("dreams", std::to_string(N) + " starts x " + std::to_string(S) + " samples; " + std::to_string(options.context) + " real frames, then " +
                    std::to_string(options.horizon) + " imagined steps at temperature " + fmt(options.temperature, 2));
  row("made", std::string(date) + " in " + fmt(report.seconds_total, 1) + " s (" + std::to_string(report.dreamed_frames) + " frames imagined and decoded)");
  h << "</table>\n";
  h << "<h2>Real | tokenizer | dreams</h2>\n<p class=\"note\">The first " << std::min(options.video_starts, N)
    << " starts, one after the other. Each frame: the step after the last real frame, the action that led to it, the reward (R) and, in dreams, "
       "the predicted chance that the episode ends (D).</p>\n";
  h << "<video id=\"dream-video\" controls autoplay loop muted playsinline src=\"data:video/mp4;base64," << base64(video_bytes) << "\"></video>\n";
  h << "<p class=\"note\">Video: " << report.video_frames << " frames at " << fmt(report.fps, 1)
    << " fps; duration reported by this browser: <span id=\"video-duration\">not loaded</span> s.</p>\n";
  h << "<h2>How fast the dream drifts from reality</h2>\n";
  if (!d.comparable) h << "<p class=\"note\">The dreams took other actions than reality did: the curves measure the difference, not an error.</p>\n";
  h << "<div class=\"charts\" id=\"error-charts\">\n";
  for (const std::string& c : charts) h << c;
  h << "</div>\n<table><tr><th>step</th><th>PSNR dream</th><th>PSNR ceiling</th><th>token accuracy</th><th>reward error</th><th>termination agreement</th><th>pairs</th></tr>\n";
  for (const DreamStepError& e : result.errors) {
    h << "<tr><td>" << e.step << "</td><td>" << fmt(e.psnr_dream, 2) << "</td><td>" << fmt(e.psnr_reconstruction, 2) << "</td><td>" << fmt(e.token_accuracy, 3)
      << "</td><td>" << fmt(e.reward_abs_error, 3) << "</td><td>" << fmt(e.done_agreement, 3) << "</td><td>" << e.compared << "</td></tr>\n";
  }
  h << "</table>\n<h2>Training curves (metrics.jsonl)</h2>\n<div class=\"charts\" id=\"training-charts\">\n";
  for (const std::string& c : train_charts) h << c;
  if (train_charts.empty()) h << "<p class=\"note\">The run has no metrics.jsonl with training figures.</p>\n";
  h << "</div>\n<p class=\"note\">Points drawn per chart: <span id=\"chart-points\"></span></p>\n";
  // Reads back what the browser made of the page (the video's duration, the charts' points); report.html#t=S
  // shows the video paused at S seconds, without controls (for screenshots).
  h << "<script>\n(function(){\n"
    << "var v=document.getElementById('dream-video'),out=document.getElementById('video-duration');\n"
    << "function shown(){out.textContent=String(v.duration);document.body.setAttribute('data-video-duration',String(v.duration));\n"
    << "var at=location.hash.match(/t=([0-9.]+)/);if(at){v.pause();v.removeAttribute('controls');v.currentTime=parseFloat(at[1]);}}\n"
    << "if(v.readyState>=1)shown();else v.addEventListener('loadedmetadata',shown);\n"
    << "v.addEventListener('error',function(){out.textContent='error';document.body.setAttribute('data-video-duration','error');});\n"
    << "var counts=[].map.call(document.querySelectorAll('svg.chart'),function(s){var n=0;[].forEach.call(s.querySelectorAll('polyline'),"
       "function(p){n+=p.points.numberOfItems;});return n;});\n"
    << "document.getElementById('chart-points').textContent=JSON.stringify(counts);\n"
    << "document.body.setAttribute('data-chart-points',JSON.stringify(counts));\n})();\n</script>\n</body></html>\n";
  return h.str();
}

}  // namespace

DreamReport write_dream_report(const DreamOptions& options, double video_fps) {
  const Clock::time_point started = Clock::now();
  DreamReport report;
  report.out = options.out.empty() ? options.run / "dreams" : options.out;
  if (options.video_starts < 1) throw core::Error("--video-starts must be at least 1");
  if (!(video_fps > 0 && video_fps <= 120)) throw core::Error("--fps must be in (0, 120]");
  // The staging folder sits beside the output folder (the same file system, so files move by
  // rename), which is made only once everything is written.
  const std::filesystem::path out_absolute = std::filesystem::absolute(report.out).lexically_normal();
  const std::filesystem::path folder = out_absolute.has_filename() ? out_absolute : out_absolute.parent_path();  // "dreams/" -> "dreams"
  core::ensure_directory(folder.parent_path());
  // What a killed report left (a run killed while it wrote its report) goes first.
  core::remove_dead_writers_temporaries(folder.parent_path(), "." + folder.filename().string() + ".dream.tmp.");
  Staging staging(folder.parent_path() / ("." + folder.filename().string() + ".dream.tmp." + std::to_string(::getpid())));

  const DreamResult result = dream_from_run(options, staging.dir() / "scratch");
  std::filesystem::remove_all(staging.dir() / "scratch");
  const DreamSet& set = result.set;
  report.errors = result.errors;
  report.seconds_imagine = result.seconds_imagine;
  report.seconds_decode = result.seconds_decode;
  report.dreamed_frames = set.dream_tokens.size(0) * set.dream_tokens.size(1) * set.dream_tokens.size(2);
  report.fps = video_fps;

  Clock::time_point phase = Clock::now();
  const std::vector<viz::Image> frames = dream_video_frames(set, result.description, options.video_starts);
  const int64_t T = set.real_frames.size(1);
  const viz::Image sheet = contact_sheet(frames, static_cast<size_t>(set.context - 1), static_cast<size_t>(T - 1), 9);
  report.seconds_render = seconds_since(phase);
  report.video_frames = static_cast<int64_t>(frames.size());

  phase = Clock::now();
  const std::filesystem::path dir = staging.dir();
  write_video(dir / "dream.mp4", frames, video_fps);
  write_video(dir / "dream.gif", frames, video_fps);
  {
    viz::VideoWriter png(dir / "contact_sheet.png", sheet.height, sheet.width, {.codec = "png"});
    png.write(sheet.pixels.data());
    png.close();
  }
  report.seconds_encode = seconds_since(phase);

  // The error curve as CSV, JSON and a chart.
  std::ostringstream csv;
  csv << "step,psnr_dream_db,psnr_reconstruction_db,token_accuracy,reward_abs_error,done_agreement,predicted_reward,real_reward,done_probability,compared\n";
  nlohmann::ordered_json steps = nlohmann::json::array();
  for (const DreamStepError& e : result.errors) {
    csv << e.step << ',' << csv_number(e.psnr_dream) << ',' << csv_number(e.psnr_reconstruction) << ',' << csv_number(e.token_accuracy) << ','
        << csv_number(e.reward_abs_error) << ',' << csv_number(e.done_agreement) << ',' << csv_number(e.predicted_reward) << ','
        << csv_number(e.real_reward) << ',' << csv_number(e.done_probability) << ',' << e.compared << '\n';
    steps.push_back({{"step", e.step},
                     {"psnr_dream_db", number_or_null(e.psnr_dream)},
                     {"psnr_reconstruction_db", number_or_null(e.psnr_reconstruction)},
                     {"token_accuracy", number_or_null(e.token_accuracy)},
                     {"reward_abs_error", number_or_null(e.reward_abs_error)},
                     {"done_agreement", number_or_null(e.done_agreement)},
                     {"predicted_reward", number_or_null(e.predicted_reward)},
                     {"real_reward", number_or_null(e.real_reward)},
                     {"done_probability", number_or_null(e.done_probability)},
                     {"compared", e.compared}});
  }
  const DreamDescription& d = result.description;
  const nlohmann::ordered_json summary = {{"run", d.run},           {"tokenizer", d.tokenizer},   {"dynamics", d.dynamics},
                                          {"source", d.source},     {"split", d.split},           {"actions", d.actions},
                                          {"comparable", d.comparable}, {"context", options.context}, {"horizon", options.horizon},
                                          {"samples", options.samples}, {"starts", options.starts}, {"temperature", options.temperature},
                                          {"steps", steps}};
  write_text(dir / "errors.csv", csv.str());
  write_text(dir / "errors.json", summary.dump(1) + "\n");
  const std::vector<std::string> charts = error_charts(result.errors, d.comparable);
  write_text(dir / "error_curve.svg", charts.front());
  report.seconds_total = seconds_since(started);
  write_text(dir / "report.html", report_html(options, result, report, read_bytes(dir / "dream.mp4"), charts, training_charts(options.run / "metrics.jsonl")));

  // Into place, each file whole.
  core::ensure_directory(report.out);
  for (const char* name : {"dream.mp4", "dream.gif", "contact_sheet.png", "errors.csv", "errors.json", "error_curve.svg", "report.html"}) {
    std::filesystem::rename(dir / name, report.out / name);
    report.files.push_back(report.out / name);
  }
  report.seconds_total = seconds_since(started);
  return report;
}

}  // namespace wm::tools
