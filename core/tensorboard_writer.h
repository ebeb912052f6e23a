// Writes TensorBoard event files (scalars) without TensorFlow or protobuf: each record is
// a hand-encoded tensorflow.Event message framed as a TFRecord (length, masked CRC-32C of
// the length, data, masked CRC-32C of the data). `tensorboard --logdir runs` reads them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace wm::core {

class TensorBoardWriter {
 public:
  // Creates `dir` and a new events.out.tfevents.<time>.<host>.<pid> file in it.
  explicit TensorBoardWriter(const std::filesystem::path& dir);

  void add_scalar(std::string_view tag, double value, int64_t step, double wall_time_s);
  void flush();
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(const std::string& event);

  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace wm::core
