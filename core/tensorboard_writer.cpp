#include "core/tensorboard_writer.h"

#include <unistd.h>

#include <chrono>
#include <cstring>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/file_io.h"

namespace wm::core {

namespace {

// Protocol-buffer wire format, just the pieces an Event with scalars needs.
void put_varint(std::string& out, uint64_t x) {
  while (x >= 0x80) {
    out += static_cast<char>((x & 0x7f) | 0x80);
    x >>= 7;
  }
  out += static_cast<char>(x);
}

template <class T>
void put_fixed(std::string& out, T x) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &x, sizeof(T));  // little endian on every platform wm targets
  out.append(bytes, sizeof(T));
}

void put_tag(std::string& out, int field, int wire_type) { put_varint(out, (field << 3) | wire_type); }

void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}

// tensorflow.Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3;
// Summary summary = 5; } }
std::string event_header(double wall_time_s, int64_t step) {
  std::string event;
  put_tag(event, 1, 1);
  put_fixed(event, wall_time_s);
  put_tag(event, 2, 0);
  put_varint(event, static_cast<uint64_t>(step));
  return event;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& dir) {
  ensure_directory(dir);
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  const auto seconds = static_cast<int64_t>(now_s());
  path_ = dir / ("events.out.tfevents." + std::to_string(seconds) + "." + host + "." +
                 std::to_string(::getpid()));
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw Error("cannot create TensorBoard event file " + path_.string() + ": " + errno_text());
  std::string event = event_header(now_s(), 0);
  put_bytes(event, 3, "brain.Event:2");
  write_record(event);
  flush();
}

void TensorBoardWriter::add_scalar(std::string_view tag, double value, int64_t step,
                                   double wall_time_s) {
  // Summary.Value { string tag = 1; float simple_value = 2; }
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  put_tag(summary_value, 2, 5);
  put_fixed(summary_value, static_cast<float>(value));
  std::string summary;  // Summary { repeated Value value = 1; }
  put_bytes(summary, 1, summary_value);
  std::string event = event_header(wall_time_s, step);
  put_bytes(event, 5, summary);
  write_record(event);
}

void TensorBoardWriter::write_record(const std::string& event) {
  std::string length;
  put_fixed(length, static_cast<uint64_t>(event.size()));
  std::string record = length;
  put_fixed(record, crc32c_masked(length));
  record += event;
  put_fixed(record, crc32c_masked(event));
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  if (!out_) throw Error("cannot write TensorBoard event file " + path_.string() + ": " + errno_text());
}

void TensorBoardWriter::flush() { out_.flush(); }

}  // namespace wm::core
