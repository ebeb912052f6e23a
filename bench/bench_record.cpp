#include "bench/bench_record.h"

#include <cstdio>
#include <iostream>

namespace wm::bench {

nlohmann::ordered_json BenchRecord::to_json() const {
  nlohmann::ordered_json out;
  out["bench"] = bench;
  out["metric"] = metric;
  out["value"] = value;
  if (baseline) out["baseline"] = *baseline;
  if (baseline_value) {
    out["baseline_value"] = *baseline_value;
    out["ratio"] = *baseline_value > 0 ? value / *baseline_value : 0.0;
  }
  for (const auto& [key, item] : context.items()) out[key] = item;
  return out;
}

void print_record(const BenchRecord& record, bool json) {
  if (json) {
    std::cout << record.to_json().dump() << std::endl;
    return;
  }
  char line[256];
  std::snprintf(line, sizeof(line), "%-10s %-24s %12.2f", record.bench.c_str(),
                record.metric.c_str(), record.value);
  std::cout << line;
  if (record.baseline && record.baseline_value) {
    std::snprintf(line, sizeof(line), "   %s %.2f  ratio %.2f", record.baseline->c_str(),
                  *record.baseline_value, record.value / *record.baseline_value);
    std::cout << line;
  }
  std::cout << "   " << record.context.dump() << std::endl;
}

}  // namespace wm::bench
