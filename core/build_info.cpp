#include "core/build_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/cuda/CUDAContext.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <sstream>

#include "wm/build_config.h"

namespace wm::core {

namespace {

// at::show_config() lists "KEY=value, " pairs in its build-settings line.
std::string config_value(const std::string& config, const std::string& key) {
  const std::string needle = key + "=";
  size_t pos = config.find(needle);
  if (pos == std::string::npos) return "";
  pos += needle.size();
  const size_t end = config.find_first_of(",\n", pos);
  return config.substr(pos, end - pos);
}

std::string cpu_capability(const std::string& config) {
  const std::string needle = "CPU capability usage: ";
  size_t pos = config.find(needle);
  if (pos == std::string::npos) return "";
  pos += needle.size();
  return config.substr(pos, config.find('\n', pos) - pos);
}

}  // namespace

BuildInfo build_info() {
  const std::string config = at::show_config();
  BuildInfo info;
  info.wm_version = WM_VERSION;
  info.torch_version = TORCH_VERSION;
  info.cuda_compiled = config_value(config, "USE_CUDA") == "1" || config_value(config, "USE_CUDA") == "ON";
  info.cuda_version = config_value(config, "CUDA_VERSION");
  info.cuda_toolkit = WM_CUDA_TOOLKIT_VERSION;
  info.cudnn_version = config_value(config, "CUDNN_VERSION");
  info.gpus_visible = static_cast<int>(torch::cuda::device_count());
  if (info.gpus_visible > 0) info.gpu_name = at::cuda::getDeviceProperties(0)->name;
  info.blas = config_value(config, "BLAS_INFO");
  info.onednn = at::hasMKLDNN();
  info.threads = at::get_num_threads();
  info.cpu_capability = cpu_capability(config);
  info.compiler = WM_CXX_COMPILER;
  return info;
}

std::string build_info_text(const BuildInfo& info) {
  std::ostringstream out;
  out << "wm " << info.wm_version << "\n";
  out << "torch " << info.torch_version << " (libtorch from the PyPI wheel)\n";
  out << "CUDA: " << (info.cuda_compiled ? "compiled in (CUDA " + info.cuda_version + ", cuDNN " +
                                               info.cudnn_version + "; toolkit " + info.cuda_toolkit + ")"
                                         : std::string("not compiled in"))
      << "\n";
  out << "GPUs visible: " << info.gpus_visible;
  if (!info.gpu_name.empty()) out << " (" << info.gpu_name << ")";
  out << "\n";
  out << "BLAS: " << info.blas << "; oneDNN: " << (info.onednn ? "yes" : "no")
      << "; CPU kernels: " << info.cpu_capability << "; threads: " << info.threads << "\n";
  out << "compiler: " << info.compiler << ", C++20\n";
  return out.str();
}

}  // namespace wm::core
