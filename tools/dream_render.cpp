#include "tools/dream_render.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

namespace wm::tools {

namespace {

constexpr viz::Rgb kBackground{24, 24, 28}, kText{235, 235, 235}, kDim{150, 150, 160};
constexpr viz::Rgb kRealColor{90, 200, 120}, kReconColor{120, 170, 240}, kDreamColor{240, 170, 70};
constexpr int kGap = 6;

std::string fixed(double v, int decimals) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.*f", decimals, v);
  return text;
}

std::string action_text(const at::Tensor& action, const DreamDescription& d) {  // [] or [A]
  if (action.dim() == 0) {
    const int64_t a = action.item<int64_t>();
    return a >= 0 && a < static_cast<int64_t>(d.action_names.size()) ? d.action_names[a] : "A " + std::to_string(a);
  }
  std::string text = "A";
  for (int64_t i = 0; i < std::min<int64_t>(action.size(0), 3); ++i) text += " " + fixed(action[i].item<double>(), 1);
  return text;
}

// One panel: a title bar, the frame upscaled, three lines of text under it: when, the action
// that led here, reward and termination.
struct PanelText {
  std::string title, line1, line2, line3;
  viz::Rgb color;
};

int line_height(int text_scale) { return viz::kGlyphHeight * text_scale + 2; }

}  // namespace

DreamFrameLayout dream_frame_layout(int frame_height, int frame_width, int64_t samples) {
  DreamFrameLayout layout;
  layout.scale = std::max(1, (192 + frame_width - 1) / frame_width);  // 64 x 64 frames -> 192 x 192 panels
  const int pw = frame_width * layout.scale, ph = frame_height * layout.scale;
  layout.text_scale = pw >= 150 ? 2 : 1;
  const int line = line_height(layout.text_scale);
  const int title_h = line + 4, info_h = 3 * line + 4;  // a title above; when, action, reward below
  const int panels = static_cast<int>(2 + samples);
  layout.width = kGap + panels * (pw + kGap);
  layout.height = kGap + title_h + ph + info_h + kGap;
  layout.width += layout.width % 2;  // yuv420p video needs even sizes
  layout.height += layout.height % 2;
  return layout;
}

std::vector<viz::Image> dream_video_frames(const DreamSet& set, const DreamDescription& d, int64_t starts) {
  const int64_t S = set.dream_tokens.size(0), N = set.real_frames.size(0), T = set.real_frames.size(1), C = set.context;
  const int fh = static_cast<int>(set.real_frames.size(2)), fw = static_cast<int>(set.real_frames.size(3));
  const DreamFrameLayout layout = dream_frame_layout(fh, fw, S);
  const int scale = layout.scale, text_scale = layout.text_scale, width = layout.width, height = layout.height;
  const int pw = fw * scale, ph = fh * scale;
  const int line = line_height(text_scale), title_h = line + 4;
  const size_t max_chars = static_cast<size_t>(pw / (viz::kGlyphWidth * text_scale));
  auto clip = [max_chars](std::string s) { return s.size() > max_chars ? s.substr(0, max_chars) : s; };

  auto frame_image = [&](const at::Tensor& frame) {  // uint8 [H, W, 3]
    const at::Tensor f = frame.contiguous();
    return viz::upscale_nearest(viz::Image::from_rgb(f.data_ptr<uint8_t>(), fh, fw), scale);
  };
  auto draw_panel = [&](viz::Image& canvas, int index, const viz::Image& picture, const PanelText& text) {
    const int x = kGap + index * (pw + kGap), y = kGap;
    viz::fill_rect(canvas, x, y, pw, title_h - 2, viz::Rgb{static_cast<uint8_t>(text.color.r / 3), static_cast<uint8_t>(text.color.g / 3), static_cast<uint8_t>(text.color.b / 3)});
    viz::draw_text(canvas, x + 3, y + 2, clip(text.title), text.color, text_scale);
    viz::blit(canvas, picture, x, y + title_h);
    viz::draw_text(canvas, x + 1, y + title_h + ph + 3, clip(text.line1), kText, text_scale);
    viz::draw_text(canvas, x + 1, y + title_h + ph + 3 + line, clip(text.line2), kText, text_scale);
    viz::draw_text(canvas, x + 1, y + title_h + ph + 3 + 2 * line, clip(text.line3), kDim, text_scale);
  };

  std::vector<viz::Image> frames;
  for (int64_t n = 0; n < std::min(starts, N); ++n) {
    for (int64_t t = 0; t < T; ++t) {
      viz::Image canvas(height, width, kBackground);
      const int64_t k = t - (C - 1);  // steps after the last real frame the dream started from
      const std::string when = k <= 0 ? "CONTEXT " + std::to_string(t + 1) + "/" + std::to_string(C) : "STEP " + std::to_string(k);
      const std::string led_here = t > 0 ? action_text(set.real_actions[n][t - 1], d) : "";
      const bool real = set.real_valid[n][t].item<bool>();
      PanelText real_text{"REAL", when, "", "", kRealColor};
      if (real && t > 0) real_text.line3 = "R " + fixed(set.real_rewards[n][t - 1].item<double>(), 2) + (set.real_dones[n][t - 1].item<bool>() ? " END" : "");
      if (real && t > 0) real_text.line2 = led_here;
      viz::Image real_picture = real ? frame_image(set.real_frames[n][t]) : viz::Image(ph, pw, viz::Rgb{0, 0, 0});
      if (!real) viz::draw_text(real_picture, 4, 4, "NO FRAME", kDim, text_scale);
      draw_panel(canvas, 0, real_picture, real_text);
      draw_panel(canvas, 1, real ? frame_image(set.recon_frames[n][t]) : viz::Image(ph, pw, viz::Rgb{0, 0, 0}),
                 {"TOKENIZER", real ? "RECONSTRUCTION" : "", "", "", kReconColor});
      for (int64_t s = 0; s < S; ++s) {
        PanelText text{"DREAM " + std::to_string(s + 1), when, "", "", kDreamColor};
        if (k <= 0) {  // the dream is primed with the reconstructed real frames
          draw_panel(canvas, static_cast<int>(2 + s), frame_image(set.recon_frames[n][t]), text);
          continue;
        }
        const int64_t h = k - 1;
        text.line2 = action_text(set.dream_actions[s][n][h], d);
        text.line3 = "R " + fixed(set.dream_rewards[s][n][h].item<double>(), 2) + " D " + fixed(set.dream_done_probs[s][n][h].item<double>(), 2);
        draw_panel(canvas, static_cast<int>(2 + s), frame_image(set.dream_frames[s][n][h]), text);
      }
      frames.push_back(std::move(canvas));
    }
  }
  return frames;
}

viz::Image contact_sheet(const std::vector<viz::Image>& frames, size_t first, size_t last, size_t count) {
  std::vector<size_t> chosen;
  if (frames.empty() || last < first) return viz::Image(2, 2);
  last = std::min(last, frames.size() - 1);
  const size_t span = last - first;
  count = std::max<size_t>(1, std::min(count, span + 1));
  for (size_t i = 0; i < count; ++i) chosen.push_back(first + (count == 1 ? 0 : i * span / (count - 1)));
  const int columns = static_cast<int>(std::min<size_t>(3, chosen.size()));
  const int rows = static_cast<int>((chosen.size() + 2) / 3);
  const int fw = frames[0].width, fh = frames[0].height;
  viz::Image sheet(rows * fh, columns * fw, kBackground);
  for (size_t i = 0; i < chosen.size(); ++i) viz::blit(sheet, frames[chosen[i]], static_cast<int>(i % 3) * fw, static_cast<int>(i / 3) * fh);
  return sheet;
}

}  // namespace wm::tools
