// A read-only memory map of a .npy file: windows are copied straight out of the page cache,
// and episodes much larger than RAM can be sampled from.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>

#include "core/npy.h"

namespace wm::dataloader {

class MappedNpy {
 public:
  explicit MappedNpy(const std::filesystem::path& path);
  ~MappedNpy();
  MappedNpy(const MappedNpy&) = delete;
  MappedNpy& operator=(const MappedNpy&) = delete;

  const core::NpyHeader& header() const { return header_; }
  // A CPU tensor viewing the mapped data; valid while this object lives. Read-only.
  const at::Tensor& tensor() const { return tensor_; }

 private:
  core::NpyHeader header_;
  void* base_ = nullptr;
  size_t size_ = 0;
  at::Tensor tensor_;
};

}  // namespace wm::dataloader
