#include "core/npy.h"

#include <torch/torch.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/file_io.h"

namespace wm::core {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct DtypeName {
  c10::ScalarType dtype;
  const char* descr;
};
constexpr DtypeName kDtypes[] = {
    {c10::ScalarType::Byte, "|u1"},  {c10::ScalarType::Short, "<i2"},
    {c10::ScalarType::Int, "<i4"},   {c10::ScalarType::Long, "<i8"},
    {c10::ScalarType::Float, "<f4"},
};

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw Error(path.string() + ": not a readable .npy file: " + what);
}

// The value text after 'key': in the header dict, up to the matching delimiter.
std::string dict_value(const std::string& header, const std::string& key,
                       const std::filesystem::path& path) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) fail(path, "header has no '" + key + "' entry");
  size_t colon = header.find(':', k);
  if (colon == std::string::npos) fail(path, "header entry '" + key + "' has no value");
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos) fail(path, "header entry '" + key + "' has no value");
  char open = header[start];
  char close = open == '\'' ? '\'' : open == '(' ? ')' : ',';
  size_t end = header.find(close, start + 1);
  if (end == std::string::npos) fail(path, "header entry '" + key + "' is not terminated");
  return header.substr(start, end - start + (close == ',' ? 0 : 1));
}

c10::ScalarType parse_descr(const std::string& value, const std::filesystem::path& path) {
  std::string descr = value.size() >= 2 ? value.substr(1, value.size() - 2) : value;
  if (descr == "<u1") descr = "|u1";
  for (const auto& d : kDtypes) {
    if (descr == d.descr) return d.dtype;
  }
  fail(path, "dtype '" + descr +
                 "' is not supported (wm reads uint8, int16, int32, int64, float32, "
                 "little endian)");
}

std::vector<int64_t> parse_shape(const std::string& value, const std::filesystem::path& path) {
  if (value.size() < 2 || value.front() != '(' || value.back() != ')') {
    fail(path, "header shape '" + value + "' is not a tuple");
  }
  std::vector<int64_t> shape;
  std::string inner = value.substr(1, value.size() - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    size_t comma = inner.find(',', pos);
    std::string item = inner.substr(pos, comma == std::string::npos ? comma : comma - pos);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) {
      char* end = nullptr;
      errno = 0;
      long long dim = std::strtoll(item.c_str(), &end, 10);
      if (*end != '\0' || dim < 0 || errno == ERANGE) fail(path, "header shape '" + value + "' is malformed");
      shape.push_back(dim);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return shape;
}

const char* descr_of(c10::ScalarType dtype, const std::filesystem::path& path) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.descr;
  }
  throw Error("cannot write " + path.string() + ": dtype " + std::string(c10::toString(dtype)) +
              " is not one of uint8, int16, int32, int64, float32");
}

}  // namespace

NpyHeader read_npy_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path.string() + ": " + errno_text());
  char preamble[10];
  in.read(preamble, 8);
  if (in.gcount() < 8 || std::memcmp(preamble, kMagic, kMagicSize) != 0) {
    fail(path, "missing the \\x93NUMPY magic (is it a .npy file?)");
  }
  const int major = static_cast<unsigned char>(preamble[6]);
  uint32_t header_len = 0;
  size_t len_size = major == 1 ? 2 : 4;
  if (major < 1 || major > 3) fail(path, "format version " + std::to_string(major) + " unknown");
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(len_bytes), static_cast<std::streamsize>(len_size));
  if (static_cast<size_t>(in.gcount()) < len_size) fail(path, "truncated inside the header");
  for (size_t i = 0; i < len_size; ++i) header_len |= uint32_t(len_bytes[i]) << (8 * i);

  std::error_code ec;
  const size_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot stat " + path.string() + ": " + ec.message());
  // Checked before the header is read into memory: a damaged length field must not ask for 4 GB.
  if (8 + len_size + header_len > file_size) {
    fail(path, "truncated inside the header (its length field says " + std::to_string(header_len) + " bytes, the file holds " +
                   std::to_string(file_size) + ")");
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (static_cast<uint32_t>(in.gcount()) < header_len) fail(path, "truncated inside the header");

  NpyHeader out;
  out.dtype = parse_descr(dict_value(header, "descr", path), path);
  if (dict_value(header, "fortran_order", path) != "False") {
    fail(path, "Fortran order is not supported; save with np.ascontiguousarray");
  }
  out.shape = parse_shape(dict_value(header, "shape", path), path);
  out.data_offset = 8 + len_size + header_len;
  // The data size, checked for overflow: a shape whose product wraps around would pass the
  // size check below and then allocate the unwrapped size.
  size_t bytes = c10::elementSize(out.dtype);
  for (int64_t d : out.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<size_t>(d), &bytes)) {
      fail(path, "header shape " + dict_value(header, "shape", path) + " is larger than any file");
    }
  }
  out.data_bytes = bytes;
  // A zero dimension makes the data empty, but the tensor's strides are still products of the
  // other dimensions (each at least 1): those must fit too, or making the tensor throws.
  int64_t strides = 1;
  for (int64_t d : out.shape) {
    if (__builtin_mul_overflow(strides, std::max<int64_t>(d, 1), &strides)) {
      fail(path, "header shape " + dict_value(header, "shape", path) + " is larger than any array");
    }
  }
  if (file_size < out.data_offset || file_size - out.data_offset < out.data_bytes) {
    fail(path, "truncated: the header announces " + std::to_string(out.data_bytes) +
                   " bytes of data but the file holds " +
                   std::to_string(file_size - std::min(file_size, out.data_offset)));
  }
  return out;
}

at::Tensor read_npy(const std::filesystem::path& path) {
  const NpyHeader header = read_npy_header(path);
  at::Tensor tensor = torch::empty(header.shape, torch::TensorOptions().dtype(header.dtype));
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(header.data_offset));
  in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(header.data_bytes));
  if (static_cast<size_t>(in.gcount()) != header.data_bytes) {
    throw Error("cannot read " + path.string() + ": " + errno_text());
  }
  return tensor;
}

void write_npy(const std::filesystem::path& path, const at::Tensor& tensor) {
  const char* descr = descr_of(tensor.scalar_type(), path);
  const at::Tensor data = tensor.to(torch::kCPU).contiguous();

  std::string shape;  // Python tuple syntax: "()", "(5,)", "(2, 3)"
  for (int64_t d : data.sizes()) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
  shape = "(" + shape + (data.dim() == 1 ? ",)" : ")");
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so the data starts on a 64-byte boundary, as numpy does.
  const size_t unpadded = kMagicSize + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';

  std::string bytes(kMagic, kMagicSize);
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>((header.size() >> 8) & 0xff);
  bytes += header;
  bytes.append(static_cast<const char*>(data.data_ptr()), data.nbytes());
  write_file_atomic(path, bytes);
}

}  // namespace wm::core
