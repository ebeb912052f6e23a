#include "dataloader/action_sidecar.h"

#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace wm::dataloader {

namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::stringstream stream(line);
  while (std::getline(stream, cell, ',')) {
    cell.erase(0, cell.find_first_not_of(" \t\r"));
    cell.erase(cell.find_last_not_of(" \t\r") + 1);
    cells.push_back(cell);
  }
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;  // numeric cells, by row
  std::vector<int64_t> lines;             // file line of each row
};

Table read_table(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw core::Error(path.string() + ": cannot open the action sidecar");
  Table table;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto cells = split_csv_line(line);
    if (table.header.empty()) {
      table.header = cells;
      continue;
    }
    if (cells.size() != table.header.size()) {
      throw core::Error(path.string() + ":" + std::to_string(number) + ": " + std::to_string(cells.size()) +
                        " cells, but the header has " + std::to_string(table.header.size()));
    }
    std::vector<double> values(cells.size());
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string& text = cells[c];
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), values[c]);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
        throw core::Error(path.string() + ":" + std::to_string(number) + ": column '" + table.header[c] + "' is '" + text +
                          "', not a number");
      }
      if (!std::isfinite(values[c])) {  // a NaN action would turn every loss into NaN
        throw core::Error(path.string() + ":" + std::to_string(number) + ": column '" + table.header[c] + "' is '" + text +
                          "', not a finite number");
      }
    }
    table.rows.push_back(std::move(values));
    table.lines.push_back(number);
  }
  if (table.header.empty()) throw core::Error(path.string() + ": empty file (expected a header row)");
  if (table.rows.empty()) throw core::Error(path.string() + ": a header but no rows");
  return table;
}

size_t column_index(const Table& table, const std::string& name, const std::filesystem::path& path) {
  const auto it = std::find(table.header.begin(), table.header.end(), name);
  if (it == table.header.end()) {
    std::string have;
    for (const auto& h : table.header) have += (have.empty() ? "" : ", ") + h;
    throw core::Error(path.string() + ":1: no column '" + name + "' (columns: " + have + ")");
  }
  return static_cast<size_t>(it - table.header.begin());
}

std::vector<double> parse_edges(const std::string& text, const std::string& column) {
  std::vector<double> edges;
  std::stringstream stream(text);
  for (std::string item; stream >> item;) {
    if (item.back() == ',') item.pop_back();
    if (item.empty()) continue;
    double value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec != std::errc() || end != item.data() + item.size()) {
      throw core::Error("dataset.action_bins for column '" + column + "': '" + item + "' is not a number");
    }
    edges.push_back(value);
  }
  if (!std::is_sorted(edges.begin(), edges.end())) {
    throw core::Error("dataset.action_bins for column '" + column + "': edges must be increasing");
  }
  return edges;
}

}  // namespace

SidecarData read_action_sidecar(const std::filesystem::path& path, const SidecarOptions& options, int64_t frames,
                                double fps) {
  const Table table = read_table(path);
  const bool has_frame = std::count(table.header.begin(), table.header.end(), "frame") > 0;
  std::string align = options.align;
  if (align == "auto") align = has_frame ? "frame" : "time_s";
  if (align != "frame" && align != "time_s") throw core::Error("dataset.align '" + align + "': expected auto, frame or time_s");
  const size_t key = column_index(table, align, path);

  std::vector<std::string> names = options.action_columns;
  if (names.empty()) {
    for (const auto& h : table.header) {
      if (h != "frame" && h != "time_s" && h != options.reward_column && h != options.done_column) names.push_back(h);
    }
  }
  std::vector<size_t> action_columns;
  for (const auto& name : names) action_columns.push_back(column_index(table, name, path));

  // For each frame, the row(s) and weight that give its values.
  const auto rows = static_cast<int64_t>(table.rows.size());
  std::vector<int64_t> lower(static_cast<size_t>(frames));
  std::vector<double> weight(static_cast<size_t>(frames), 0.0);
  if (align == "frame") {
    std::vector<int64_t> row_of(static_cast<size_t>(frames), -1);
    for (int64_t r = 0; r < rows; ++r) {
      const double f = table.rows[r][key];
      if (f >= 0 && f < static_cast<double>(frames) && f == std::floor(f)) row_of[static_cast<size_t>(f)] = r;
    }
    for (int64_t f = 0; f < frames; ++f) {
      if (row_of[f] < 0) {
        throw core::Error(path.string() + ": no row for frame " + std::to_string(f) + " (the video has " +
                          std::to_string(frames) + " frames; the sidecar's rows must cover every one)");
      }
      lower[f] = row_of[f];
    }
  } else {
    for (int64_t r = 1; r < rows; ++r) {
      if (table.rows[r][key] < table.rows[r - 1][key]) {
        throw core::Error(path.string() + ":" + std::to_string(table.lines[r]) + ": time_s goes backwards");
      }
    }
    const double first = table.rows.front()[key], last = table.rows.back()[key];
    const double tolerance = 0.5 / fps;
    for (int64_t f = 0; f < frames; ++f) {
      const double t = static_cast<double>(f) / fps;
      if (t < first - tolerance || t > last + tolerance) {
        throw core::Error(path.string() + ": rows cover time_s " + std::to_string(first) + ".." + std::to_string(last) +
                          " but frame " + std::to_string(f) + " is at " + std::to_string(t) + " s");
      }
      int64_t r = 0;
      while (r + 1 < rows && table.rows[r + 1][key] <= t) ++r;
      lower[f] = r;
      if (r + 1 < rows) {
        const double span = table.rows[r + 1][key] - table.rows[r][key];
        const double w = span > 0 ? std::clamp((t - table.rows[r][key]) / span, 0.0, 1.0) : 0.0;
        weight[f] = options.interpolation == "linear" ? w : (w >= 0.5 ? 1.0 : 0.0);
      }
    }
  }
  auto value = [&](int64_t f, size_t column) {
    const auto& a = table.rows[lower[f]];
    if (weight[f] == 0.0) return a[column];
    const auto& b = table.rows[lower[f] + 1];
    return a[column] * (1.0 - weight[f]) + b[column] * weight[f];
  };
  // Discrete values (done flags, binned actions) never interpolate: the nearest row.
  auto nearest = [&](int64_t f, size_t column) { return table.rows[lower[f] + (weight[f] >= 0.5 ? 1 : 0)][column]; };

  SidecarData data;
  data.action_names = names;
  data.rewards = torch::zeros({frames}, torch::kFloat32);
  data.dones = torch::zeros({frames}, torch::kUInt8);
  if (!options.reward_column.empty()) {
    const size_t c = column_index(table, options.reward_column, path);
    auto rewards = data.rewards.accessor<float, 1>();
    for (int64_t f = 0; f < frames; ++f) rewards[f] = static_cast<float>(value(f, c));
  }
  if (!options.done_column.empty()) {
    const size_t c = column_index(table, options.done_column, path);
    auto dones = data.dones.accessor<uint8_t, 1>();
    for (int64_t f = 0; f < frames; ++f) dones[f] = nearest(f, c) != 0.0 ? 1 : 0;
  }
  if (options.continuous) {
    data.actions = torch::zeros({frames, static_cast<int64_t>(names.size())}, torch::kFloat32);
    auto out = data.actions.accessor<float, 2>();
    for (int64_t f = 0; f < frames; ++f) {
      for (size_t a = 0; a < action_columns.size(); ++a) out[f][static_cast<int64_t>(a)] = static_cast<float>(value(f, action_columns[a]));
    }
    return data;
  }
  if (options.bins.size() != names.size()) {
    throw core::Error("dataset.action_bins has " + std::to_string(options.bins.size()) + " entries for " +
                      std::to_string(names.size()) + " action columns (one list of edges per column)");
  }
  std::vector<std::vector<double>> edges;
  data.discrete_actions = 1;
  for (size_t a = 0; a < names.size(); ++a) {
    edges.push_back(parse_edges(options.bins[a], names[a]));
    data.discrete_actions *= static_cast<int64_t>(edges.back().size()) + 1;
  }
  data.actions = torch::zeros({frames}, torch::kInt64);
  auto indices = data.actions.accessor<int64_t, 1>();
  for (int64_t f = 0; f < frames; ++f) {
    int64_t index = 0;
    for (size_t a = 0; a < names.size(); ++a) {
      const double v = nearest(f, action_columns[a]);
      const auto bin = static_cast<int64_t>(std::upper_bound(edges[a].begin(), edges[a].end(), v) - edges[a].begin());
      index = index * (static_cast<int64_t>(edges[a].size()) + 1) + bin;
    }
    indices[f] = index;
  }
  return data;
}

}  // namespace wm::dataloader
