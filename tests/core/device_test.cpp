#include <gtest/gtest.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include "core/device.h"
#include "core/error.h"

namespace wm::core {
namespace {

TEST(Device, SpecsAreValidatedByForm) {
  for (const char* ok : {"auto", "cpu", "cuda", "cuda:0", "cuda:12"}) EXPECT_EQ(validate_device_spec(ok), "") << ok;
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", ""}) EXPECT_NE(validate_device_spec(bad), "") << bad;
}

TEST(Device, CpuAndAutoResolveToWhatIsVisible) {
  EXPECT_EQ(resolve_device("cpu"), c10::Device(c10::kCPU));
  const c10::Device automatic = resolve_device("auto");
  if (visible_gpu_count() == 0) {
    EXPECT_EQ(automatic, c10::Device(c10::kCPU));
  } else {
    EXPECT_EQ(automatic, c10::Device(c10::kCUDA, 0));
  }
}

TEST(Device, AGpuBeyondTheVisibleOnesIsAnErrorNamingBoth) {
  const int gpus = visible_gpu_count();
  const std::string spec = "cuda:" + std::to_string(gpus);  // always one past the last
  try {
    resolve_device(spec);
    FAIL() << "expected an error for " << spec;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'" + spec + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(gpus == 0 ? "no CUDA GPU is visible" : "only " + std::to_string(gpus)),
              std::string::npos)
        << message;
  }
}

TEST(AutocastGuard, Bf16RegionComputesInBf16AndRestoresFp32After) {
  const auto a = torch::randn({8, 8});
  {
    AutocastGuard guard(c10::Device(c10::kCPU), Precision::kBf16);
    EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kFloat32);
  EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::kCPU));
  {
    AutocastGuard guard(c10::Device(c10::kCPU), Precision::kFp32);
    EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kFloat32);
  }
}

}  // namespace
}  // namespace wm::core
