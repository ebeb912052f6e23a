// What this binary was built with and what it can use now: the facts `wm --version` prints
// and every benchmark records next to its numbers.
#pragma once

#include <string>

namespace wm::core {

struct BuildInfo {
  std::string wm_version;
  std::string torch_version;
  bool cuda_compiled = false;     // libtorch was built with CUDA (the wheel always is)
  std::string cuda_version;       // CUDA version libtorch was built with ("13.2")
  std::string cuda_toolkit;       // CUDA toolkit wm was compiled against ("13.0.88")
  std::string cudnn_version;
  int gpus_visible = 0;
  std::string gpu_name;           // of cuda:0, when one is visible
  std::string blas;               // "mkl", "open", ...
  bool onednn = false;
  int threads = 0;                // intra-op threads now
  std::string cpu_capability;     // "AVX512", "AVX2", ...
  std::string compiler;
};

BuildInfo build_info();

// Multi-line human-readable form for `wm --version`.
std::string build_info_text(const BuildInfo& info);

}  // namespace wm::core
