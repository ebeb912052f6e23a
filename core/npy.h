// NumPy .npy files (format 1.0-3.0, C order, little endian): the on-disk format of every
// array wm writes, so anything it produces loads with numpy.load.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

namespace wm::core {

struct NpyHeader {
  c10::ScalarType dtype = c10::ScalarType::Byte;  // Byte|Short|Int|Long|Float
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the file to the first element
  size_t data_bytes = 0;   // product(shape) * element size
};

// Parses and checks the header, including that the file holds all the data it announces.
// Errors name the file and what is wrong (bad magic, unsupported dtype, Fortran order,
// truncation with the byte counts).
NpyHeader read_npy_header(const std::filesystem::path& path);

// Reads the whole array into a CPU tensor of the file's dtype and shape.
at::Tensor read_npy(const std::filesystem::path& path);

// Writes a uint8/int16/int32/int64/float32 tensor (any device, any strides) atomically.
void write_npy(const std::filesystem::path& path, const at::Tensor& tensor);

}  // namespace wm::core
