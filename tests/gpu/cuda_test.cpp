// Code that only runs on a GPU: compiled and linked on every machine, run where a CUDA
// device is visible, skipped elsewhere.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "core/device.h"

namespace wm {
namespace {

#define SKIP_WITHOUT_GPU()                                                   \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible"

TEST(Cuda, MatmulOnTheGpuMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  const auto a = torch::randn({256, 256});
  const auto b = torch::randn({256, 256});
  const auto gpu = torch::mm(a.cuda(), b.cuda()).cpu();
  EXPECT_TRUE(torch::allclose(gpu, torch::mm(a, b), /*rtol=*/1e-3, /*atol=*/1e-3));
}

TEST(Cuda, WorkOnASideStreamIsOrderedBySynchronization) {
  SKIP_WITHOUT_GPU();
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  torch::Tensor result;
  {
    c10::cuda::CUDAStreamGuard guard(side);
    result = torch::ones({1 << 20}, torch::kCUDA) * 3;
  }
  side.synchronize();
  EXPECT_EQ(result.sum().item<double>(), 3.0 * (1 << 20));
}

TEST(Cuda, Bf16AutocastRegionOnTheGpu) {
  SKIP_WITHOUT_GPU();
  const auto a = torch::randn({64, 64}, torch::kCUDA);
  {
    core::AutocastGuard guard(c10::Device(c10::kCUDA, 0), core::Precision::kBf16);
    EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::mm(a, a).scalar_type(), torch::kFloat32);
}

TEST(Cuda, NcclAllReduceOnOneRank) {
  SKIP_WITHOUT_GPU();
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto options = c10d::ProcessGroupNCCL::Options::create();
  c10d::ProcessGroupNCCL group(store, /*rank=*/0, /*size=*/1, options);
  std::vector<torch::Tensor> tensors = {torch::full({16}, 2.0f, torch::kCUDA)};
  group.allreduce(tensors)->wait();
  EXPECT_EQ(tensors[0].sum().item<float>(), 32.0f);
}

}  // namespace
}  // namespace wm
