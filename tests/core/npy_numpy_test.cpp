#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/npy.h"
#include "test_support.h"

namespace wm::core {
namespace {

TEST(NpyNumpy, NumpyLoadsWhatWeWrite) {
  test::TempDir dir;
  const auto path = dir / "frames.npy";
  write_npy(path, torch::arange(2 * 3 * 4 * 3).reshape({2, 3, 4, 3}).to(torch::kUInt8));
  const auto result = test::run_command(test::venv_python() + " tests/python/npy_check.py read " + path.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto info = nlohmann::json::parse(result.out);
  EXPECT_EQ(info["dtype"], "uint8");
  EXPECT_EQ(info["shape"], nlohmann::json::array({2, 3, 4, 3}));
  EXPECT_DOUBLE_EQ(info["sum"].get<double>(), 71.0 * 72.0 / 2.0);
  EXPECT_TRUE(info["c_contiguous"].get<bool>());
}

TEST(NpyNumpy, WeReadWhatNumpyWrites) {
  test::TempDir dir;
  const auto result = test::run_command(test::venv_python() + " tests/python/npy_check.py write " + dir.path().string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const torch::Tensor expected = torch::arange(24).reshape({2, 3, 4});
  for (const char* dtype : {"uint8", "int16", "int32", "int64", "float32"}) {
    const torch::Tensor array = read_npy(dir / ("a_" + std::string(dtype) + ".npy"));
    EXPECT_EQ(array.sizes(), expected.sizes()) << dtype;
    EXPECT_TRUE(torch::equal(array.to(torch::kInt64), expected)) << dtype;
  }
}

}  // namespace
}  // namespace wm::core
