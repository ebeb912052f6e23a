#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "core/error.h"
#include "core/npy.h"
#include "test_support.h"

namespace wm::core {
namespace {

using test::error_of;

using test::read_bytes;

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// A version 1.0 .npy file of `header` (a Python dict literal) and no data, padded as numpy pads.
void write_header_only(const std::filesystem::path& path, std::string header) {
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  write_bytes(path, bytes + header);
}

TEST(Npy, RoundTripKeepsDtypeShapeAndValuesForEverySupportedDtype) {
  test::TempDir dir;
  for (auto dtype : {torch::kUInt8, torch::kInt16, torch::kInt32, torch::kInt64, torch::kFloat32}) {
    const torch::Tensor original = torch::randint(0, 120, {3, 4, 5}).to(dtype);
    const auto path = dir / "a.npy";
    write_npy(path, original);
    const torch::Tensor back = read_npy(path);
    EXPECT_EQ(back.scalar_type(), dtype);
    EXPECT_EQ(back.sizes(), original.sizes());
    EXPECT_TRUE(torch::equal(back, original)) << c10::toString(dtype);
    // numpy aligns the data to 64 bytes; so do we.
    EXPECT_EQ(read_npy_header(path).data_offset % 64, 0u);
  }
}

TEST(Npy, OneDimensionalScalarEmptyAndStridedTensorsRoundTrip) {
  test::TempDir dir;
  const std::vector<torch::Tensor> cases = {
      torch::arange(7, torch::kInt64), torch::tensor(2.5f), torch::empty({0, 3}, torch::kFloat32),
      torch::arange(12, torch::kInt32).reshape({3, 4}).t()};  // non-contiguous
  for (const auto& original : cases) {
    write_npy(dir / "a.npy", original);
    const torch::Tensor back = read_npy(dir / "a.npy");
    EXPECT_EQ(back.sizes(), original.sizes());
    EXPECT_TRUE(torch::equal(back, original));
  }
}

TEST(Npy, TruncatedDataIsAnErrorWithTheByteCounts) {
  test::TempDir dir;
  const auto path = dir / "t.npy";
  write_npy(path, torch::zeros({10, 10}, torch::kFloat32));  // 400 bytes of data
  std::string bytes = read_bytes(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 100));
  const std::string message = error_of([&] { read_npy(path); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("400 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("holds 300"), std::string::npos) << message;
}

TEST(Npy, TruncatedHeaderIsAnError) {
  test::TempDir dir;
  const auto path = dir / "h.npy";
  write_npy(path, torch::zeros({2}, torch::kUInt8));
  write_bytes(path, read_bytes(path).substr(0, 20));
  EXPECT_NE(error_of([&] { read_npy(path); }).find("truncated inside the header"), std::string::npos);
}

// Found by fuzz_npy: a version-3 header whose length field says 4 GB is refused from the file
// size, before 4 GB are allocated to read it.
TEST(Npy, AHeaderLengthBeyondTheFileIsRefusedBeforeReadingIt) {
  test::TempDir dir;
  const auto path = dir / "h.npy";
  write_bytes(path, std::string("\x93NUMPY\x03\x00\xff\xff\xff\xff", 12) + std::string(52, '\xff'));
  const std::string message = error_of([&] { read_npy(path); });
  EXPECT_NE(message.find("its length field says 4294967295 bytes, the file holds 64"), std::string::npos) << message;
}

// A shape whose element count wraps around 2^64 (to 0 bytes, which the file "holds") is
// refused, not allocated at its real size.
TEST(Npy, AShapeLargerThanAnyFileIsRefused) {
  test::TempDir dir;
  const auto path = dir / "s.npy";
  write_header_only(path, "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296), }");
  const std::string message = error_of([&] { read_npy(path); });
  EXPECT_NE(message.find("is larger than any file"), std::string::npos) << message;
}

// Found by fuzz_npy: no data (a zero dimension), but strides beyond int64 from the others.
TEST(Npy, AnEmptyShapeWhoseStridesOverflowIsRefused) {
  test::TempDir dir;
  const auto path = dir / "z.npy";
  write_header_only(path, "{'descr': '<i2', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }");
  const std::string message = error_of([&] { read_npy(path); });
  EXPECT_NE(message.find("is larger than any array"), std::string::npos) << message;
}

TEST(Npy, NotAnNpyFileIsAnError) {
  test::TempDir dir;
  const auto path = dir / "x.npy";
  write_bytes(path, "PK\x03\x04 this is a zip file");
  const std::string message = error_of([&] { read_npy(path); });
  EXPECT_NE(message.find("magic"), std::string::npos) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
}

TEST(Npy, UnsupportedDtypeAndFortranOrderAreNamed) {
  test::TempDir dir;
  const auto path = dir / "d.npy";
  write_npy(path, torch::zeros({2, 2}, torch::kFloat32));
  std::string bytes = read_bytes(path);

  std::string f8 = bytes;
  f8.replace(f8.find("<f4"), 3, "<f8");
  write_bytes(path, f8);
  EXPECT_NE(error_of([&] { read_npy(path); }).find("dtype '<f8' is not supported"), std::string::npos);

  std::string big_endian = bytes;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  write_bytes(path, big_endian);
  EXPECT_NE(error_of([&] { read_npy(path); }).find("dtype '>f4' is not supported"), std::string::npos);

  std::string fortran = bytes;
  fortran.replace(fortran.find("False"), 5, "True ");
  write_bytes(path, fortran);
  EXPECT_NE(error_of([&] { read_npy(path); }).find("Fortran order"), std::string::npos);
}

TEST(Npy, WritingAnUnsupportedDtypeNamesIt) {
  test::TempDir dir;
  const std::string message = error_of([&] { write_npy(dir / "a.npy", torch::zeros({2}, torch::kFloat64)); });
  EXPECT_NE(message.find("Double"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(dir / "a.npy"));
}

}  // namespace
}  // namespace wm::core
