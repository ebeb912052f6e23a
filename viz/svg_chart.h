// Line charts as inline SVG text, for self-contained HTML reports: no script, no external
// file. Each series is a <polyline data-series="name" data-points="n">, so a page script (or
// a test) can count what was drawn.
#pragma once

#include <string>
#include <vector>

namespace wm::viz {

struct ChartSeries {
  std::string name;
  std::vector<double> x, y;  // the same length; non-finite points are left out
  std::string color;         // CSS colour; empty: the next of a built-in palette
  bool dashed = false;       // baselines and ceilings, beside the measured line
};

struct ChartOptions {
  std::string title, x_label, y_label;
  int width = 560, height = 300;
};

std::string svg_line_chart(const std::vector<ChartSeries>& series, const ChartOptions& options);

// Text made safe for HTML and SVG content and attributes.
std::string escape_xml(const std::string& text);

}  // namespace wm::viz
