// Training metrics: one JSON object per logged step in <run>/metrics.jsonl, and the same
// scalars as TensorBoard events under <run>/tb. Only rank 0 should own a MetricsWriter.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wm::core {

class TensorBoardWriter;

using Scalars = std::vector<std::pair<std::string, double>>;

// The value logged under `name`, if any.
std::optional<double> find_scalar(const Scalars& scalars, const std::string& name);

class MetricsWriter {
 public:
  // Appends to <run_dir>/metrics.jsonl (a resumed run continues the same file).
  MetricsWriter(const std::filesystem::path& run_dir, bool tensorboard);
  ~MetricsWriter();

  // {"step": step, "time": unix seconds, "<name>": value, ...}; flushed at once so a crash
  // loses nothing already logged. Non-finite values are written as null.
  void write(int64_t step, const Scalars& scalars);

  // A resumed phase re-does the steps after its checkpoint: removes the lines of steps after
  // `step` that log a figure named "<phase>/..." (other phases' lines stay), so no step is
  // logged twice. Returns how many lines went. TensorBoard needs nothing: it drops a tag's
  // events from a step that comes again onwards when it reads them.
  int64_t drop_after(const std::string& phase, int64_t step);

 private:
  std::filesystem::path jsonl_path_;
  std::ofstream jsonl_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace wm::core
