#include "viz/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace wm::viz {

namespace {

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.4g", v);
  return text;
}

// About five round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  const double span = hi - lo;
  const double raw = span / 5.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) out.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
  return out;
}

}  // namespace

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string svg_line_chart(const std::vector<ChartSeries>& series, const ChartOptions& o) {
  // The plot area inside margins for the title, the axes' numbers and labels, and the legend.
  const double left = 60, right = 16, top = 28, bottom = 64;
  const double plot_w = o.width - left - right, plot_h = o.height - top - bottom;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  int64_t total_points = 0;
  for (const ChartSeries& s : series) {
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i]);
      y_hi = std::max(y_hi, s.y[i]);
      ++total_points;
    }
  }
  if (total_points == 0) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  if (x_hi - x_lo < 1e-12) x_lo -= 0.5, x_hi += 0.5;
  if (y_hi - y_lo < 1e-12 * std::max(1.0, std::abs(y_hi))) y_lo -= 0.5, y_hi += 0.5;
  const double pad = 0.05 * (y_hi - y_lo);
  y_lo -= pad;
  y_hi += pad;
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * plot_w; };
  auto py = [&](double y) { return top + (1.0 - (y - y_lo) / (y_hi - y_lo)) * plot_h; };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << o.width << "\" height=\"" << o.height << "\" viewBox=\"0 0 "
      << o.width << ' ' << o.height << "\" data-points=\"" << total_points << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << o.width / 2 << "\" y=\"17\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" << escape_xml(o.title) << "</text>\n";
  for (double t : ticks(y_lo, y_hi)) {
    svg << "<line x1=\"" << left << "\" x2=\"" << left + plot_w << "\" y1=\"" << py(t) << "\" y2=\"" << py(t) << "\" stroke=\"#e4e4e4\"/>"
        << "<text x=\"" << left - 5 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">" << number(t) << "</text>\n";
  }
  for (double t : ticks(x_lo, x_hi)) {
    svg << "<text x=\"" << px(t) << "\" y=\"" << top + plot_h + 15 << "\" text-anchor=\"middle\">" << number(t) << "</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_w << "\" height=\"" << plot_h << "\" fill=\"none\" stroke=\"#888\"/>\n";
  svg << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << top + plot_h + 30 << "\" text-anchor=\"middle\">" << escape_xml(o.x_label) << "</text>\n";
  svg << "<text transform=\"translate(14," << top + plot_h / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << escape_xml(o.y_label) << "</text>\n";

  double legend_x = left;
  for (size_t k = 0; k < series.size(); ++k) {
    const ChartSeries& s = series[k];
    const std::string color = s.color.empty() ? kPalette[k % (sizeof(kPalette) / sizeof(kPalette[0]))] : s.color;
    std::ostringstream points;
    int64_t n = 0;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      points << (n++ ? " " : "") << number(px(s.x[i])) << ',' << number(py(s.y[i]));
    }
    svg << "<polyline data-series=\"" << escape_xml(s.name) << "\" data-points=\"" << n << "\" fill=\"none\" stroke=\"" << color
        << "\" stroke-width=\"1.8\"" << (s.dashed ? " stroke-dasharray=\"5,4\"" : "") << " points=\"" << points.str() << "\"/>\n";
    if (n == 1) {  // a lone point would be invisible as a line
      svg << "<circle cx=\"" << points.str().substr(0, points.str().find(',')) << "\" cy=\"" << points.str().substr(points.str().find(',') + 1)
          << "\" r=\"3\" fill=\"" << color << "\"/>\n";
    }
    const double legend_y = top + plot_h + 48;
    svg << "<line x1=\"" << legend_x << "\" x2=\"" << legend_x + 18 << "\" y1=\"" << legend_y - 4 << "\" y2=\"" << legend_y - 4 << "\" stroke=\""
        << color << "\" stroke-width=\"2\"" << (s.dashed ? " stroke-dasharray=\"5,4\"" : "") << "/><text x=\"" << legend_x + 22 << "\" y=\""
        << legend_y << "\">" << escape_xml(s.name) << "</text>\n";
    legend_x += 34 + 6.2 * static_cast<double>(s.name.size());
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace wm::viz
