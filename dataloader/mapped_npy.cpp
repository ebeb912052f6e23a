#include "dataloader/mapped_npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file_io.h"

namespace wm::dataloader {

MappedNpy::MappedNpy(const std::filesystem::path& path) : header_(core::read_npy_header(path)) {
  size_ = header_.data_offset + header_.data_bytes;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw core::Error("cannot open " + path.string() + ": " + core::errno_text());
  base_ = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file alive
  if (base_ == MAP_FAILED) {
    base_ = nullptr;
    throw core::Error("cannot memory-map " + path.string() + ": " + core::errno_text());
  }
  auto* data = static_cast<char*>(base_) + header_.data_offset;
  tensor_ = torch::from_blob(data, header_.shape, torch::TensorOptions().dtype(header_.dtype));
}

MappedNpy::~MappedNpy() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

}  // namespace wm::dataloader
