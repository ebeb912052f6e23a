#include "core/metrics.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/tensorboard_writer.h"

namespace wm::core {

std::optional<double> find_scalar(const Scalars& scalars, const std::string& name) {
  for (const auto& [key, value] : scalars) {
    if (key == name) return value;
  }
  return std::nullopt;
}

MetricsWriter::MetricsWriter(const std::filesystem::path& run_dir, bool tensorboard)
    : jsonl_path_(run_dir / "metrics.jsonl") {
  ensure_directory(run_dir);
  jsonl_.open(jsonl_path_, std::ios::app);
  if (!jsonl_) throw Error("cannot open " + jsonl_path_.string() + " for appending: " + errno_text());
  if (tensorboard) tensorboard_ = std::make_unique<TensorBoardWriter>(run_dir / "tb");
}

MetricsWriter::~MetricsWriter() = default;

void MetricsWriter::write(int64_t step, const Scalars& scalars) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::ordered_json line;
  line["step"] = step;
  line["time"] = now;
  for (const auto& [name, value] : scalars) {
    line[name] = std::isfinite(value) ? nlohmann::ordered_json(value) : nlohmann::ordered_json();
    if (tensorboard_) tensorboard_->add_scalar(name, value, step, now);
  }
  jsonl_ << line.dump() << '\n';
  jsonl_.flush();
  if (!jsonl_) throw Error("cannot write " + jsonl_path_.string() + ": " + errno_text());
  if (tensorboard_) tensorboard_->flush();
}

int64_t MetricsWriter::drop_after(const std::string& phase, int64_t step) {
  const std::string prefix = phase + "/";
  std::istringstream lines(read_file(jsonl_path_));
  std::string kept, line;
  int64_t dropped = 0;
  for (int64_t number = 1; std::getline(lines, line); ++number) {
    if (line.empty()) continue;
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      // A line cut short by a kill: nothing to keep of it.
      ++dropped;
      continue;
    }
    bool later_of_phase = false;
    if (parsed.contains("step") && parsed["step"].is_number_integer() && parsed["step"].get<int64_t>() > step) {
      for (const auto& item : parsed.items()) later_of_phase = later_of_phase || item.key().rfind(prefix, 0) == 0;
    }
    if (later_of_phase) {
      ++dropped;
      continue;
    }
    kept += line;
    kept += '\n';
  }
  if (dropped == 0) return 0;
  jsonl_.close();
  write_file_atomic(jsonl_path_, kept);
  jsonl_.open(jsonl_path_, std::ios::app);
  if (!jsonl_) throw Error("cannot open " + jsonl_path_.string() + " for appending: " + errno_text());
  return dropped;
}

}  // namespace wm::core
