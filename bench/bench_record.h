// One benchmark figure as `wm bench ... --json` prints it: one JSON object per line, e.g.
// {"bench":"gemm","metric":"fp32_gflops","value":180.2,"device":"cpu",...}. A comparison
// carries the peer's figure (baseline, baseline_value) and ratio = value / baseline_value.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace wm::bench {

struct BenchRecord {
  std::string bench;   // "gemm", "dynamics", ...
  std::string metric;  // what `value` measures, with its unit: "fp32_gflops"
  double value = 0;
  std::optional<std::string> baseline;  // the peer, e.g. "pytorch"
  std::optional<double> baseline_value;
  nlohmann::ordered_json context = nlohmann::ordered_json::object();  // device, sizes, threads

  nlohmann::ordered_json to_json() const;
};

// Prints the record as one JSON line (json = true) or as an aligned human-readable line.
void print_record(const BenchRecord& record, bool json);

}  // namespace wm::bench
