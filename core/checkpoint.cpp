#include "core/checkpoint.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cctype>
#include <cstring>
#include <iomanip>
#include <regex>
#include <sstream>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/file_io.h"

namespace wm::core {

namespace {

constexpr char kMagic[8] = {'W', 'M', 'C', 'K', 'P', 'T', '0', '1'};
constexpr size_t kHeaderSize = 16;  // magic + u64 payload size
constexpr size_t kTrailerSize = 4;  // u32 CRC-32C

void check_name(const std::string& name) {
  const bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  if (!ok) throw Error("checkpoint entry name '" + name + "' must match [A-Za-z0-9_]+");
}

std::string hex_hash(uint32_t crc, uint64_t size) {
  std::ostringstream out;
  out << std::hex << std::setw(8) << std::setfill('0') << crc << "-" << std::dec << size;
  return out.str();
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

// Sub-archives per entry type, assembled into one archive by serialize().
struct CheckpointWriter::Archives {
  torch::serialize::OutputArchive modules, optimizers, counters, rng, meta;
};

CheckpointWriter::CheckpointWriter() : archives_(std::make_unique<Archives>()) {
  archives_->meta.write("format_version", c10::IValue(int64_t{1}));
}
CheckpointWriter::~CheckpointWriter() = default;
CheckpointWriter::CheckpointWriter(CheckpointWriter&&) noexcept = default;

void CheckpointWriter::add_module(const std::string& name, const torch::nn::Module& module) {
  check_name(name);
  torch::serialize::OutputArchive archive;
  module.save(archive);
  archives_->modules.write(name, archive);
}

void CheckpointWriter::add_optimizer(const std::string& name,
                                     const torch::optim::Optimizer& optimizer) {
  check_name(name);
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archives_->optimizers.write(name, archive);
}

void CheckpointWriter::set_counter(const std::string& name, int64_t value) {
  check_name(name);
  archives_->counters.write(name, c10::IValue(value));
}

void CheckpointWriter::set_config_yaml(const std::string& yaml) {
  archives_->meta.write("config_yaml", c10::IValue(yaml));
}

void CheckpointWriter::set_text(const std::string& name, const std::string& text) {
  check_name(name);
  archives_->meta.write("text_" + name, c10::IValue(text));
}

void CheckpointWriter::capture_rng_states() {
  {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(cpu.mutex());
    archives_->rng.write("cpu", cpu.get_state());
  }
  const int gpus = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; i < gpus; ++i) {
    auto generator = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, i));
    std::lock_guard<std::mutex> lock(generator.mutex());
    archives_->rng.write("cuda" + std::to_string(i), generator.get_state());
  }
}

std::string CheckpointWriter::serialize() const {
  torch::serialize::OutputArchive root;
  root.write("modules", archives_->modules);
  root.write("optimizers", archives_->optimizers);
  root.write("counters", archives_->counters);
  root.write("rng", archives_->rng);
  root.write("meta", archives_->meta);
  std::ostringstream payload_stream;
  root.save_to(payload_stream);
  const std::string payload = std::move(payload_stream).str();

  std::string bytes(kMagic, sizeof(kMagic));
  uint64_t size = payload.size();
  bytes.append(reinterpret_cast<const char*>(&size), sizeof(size));
  bytes += payload;
  uint32_t crc = crc32c(payload);
  bytes.append(reinterpret_cast<const char*>(&crc), sizeof(crc));
  return bytes;
}

void CheckpointWriter::save(const std::filesystem::path& path) const {
  write_file_atomic(path, serialize());
}

namespace {

// Magic, size and checksum of a checkpoint file's bytes; the payload's CRC-32C, or an Error
// naming the file and what is wrong.
uint32_t verify_bytes(const std::string& bytes, const std::filesystem::path& path) {
  const std::string name = "checkpoint " + path.string();
  if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    throw Error(name + " is not a wm checkpoint (bad magic or truncated header)");
  }
  uint64_t size = 0;
  std::memcpy(&size, bytes.data() + sizeof(kMagic), sizeof(size));
  // Compared as the payload size the file has room for: a size field near 2^64 must not wrap
  // around to the file's length and send the checksum reading past its end.
  const uint64_t room = bytes.size() >= kHeaderSize + kTrailerSize ? bytes.size() - kHeaderSize - kTrailerSize : 0;
  if (bytes.size() < kHeaderSize + kTrailerSize || size != room) {
    throw Error(name + " is truncated or has trailing bytes: its header says a payload of " + std::to_string(size) +
                " bytes, and the file (" + std::to_string(bytes.size()) + " bytes) holds " + std::to_string(room));
  }
  uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + kHeaderSize + size, sizeof(stored));
  if (stored != crc32c(std::string_view(bytes.data() + kHeaderSize, size))) {
    throw Error(name + " is corrupt: checksum mismatch (the file was damaged after writing)");
  }
  return stored;
}

}  // namespace

std::string Checkpoint::verify(const std::filesystem::path& path) {
  try {
    verify_bytes(read_file(path), path);
    return {};
  } catch (const Error& e) {
    return e.what();
  }
}

Checkpoint Checkpoint::load(const std::filesystem::path& path) { return from_bytes(read_file(path), path); }

Checkpoint Checkpoint::from_bytes(const std::string& bytes, const std::filesystem::path& path) {
  const std::string name = "checkpoint " + path.string();
  const uint32_t actual = verify_bytes(bytes, path);
  uint64_t size = 0;
  std::memcpy(&size, bytes.data() + sizeof(kMagic), sizeof(size));
  const std::string_view payload(bytes.data() + kHeaderSize, size);
  Checkpoint checkpoint;
  checkpoint.path_ = path;
  checkpoint.content_hash_ = hex_hash(actual, size);
  checkpoint.archive_ = std::make_shared<torch::serialize::InputArchive>();
  try {
    checkpoint.archive_->load_from(payload.data(), payload.size());
  } catch (const c10::Error& e) {
    throw Error(name + " cannot be parsed: " + first_line(e.what_without_backtrace()));
  }
  return checkpoint;
}

namespace {

// A top-level section of the archive. One that is missing or not a section (a file another
// program wrote with our header, or a damaged one whose checksum was recomputed) is a
// wm::core::Error naming the checkpoint, not torch's exception.
torch::serialize::InputArchive section(torch::serialize::InputArchive& root, const std::string& key, const std::filesystem::path& path) {
  torch::serialize::InputArchive sub;
  bool found = false;
  try {
    found = root.try_read(key, sub);
  } catch (const c10::Error& e) {
    throw Error("checkpoint " + path.string() + ": its '" + key + "' section cannot be read: " + first_line(e.what_without_backtrace()));
  }
  if (!found) throw Error("checkpoint " + path.string() + " has no '" + key + "' section (not a checkpoint this wm wrote)");
  return sub;
}

// Reading inside a section: torch's exception on a damaged entry (found in review: the
// section() wrapping stopped one level up) becomes one line naming the checkpoint and entry.
template <class F>
auto read_entry(const std::filesystem::path& path, const std::string& entry, F&& read) {
  try {
    return read();
  } catch (const c10::Error& e) {
    throw Error("checkpoint " + path.string() + ": " + entry + " cannot be read: " + first_line(e.what_without_backtrace()));
  }
}

}  // namespace

bool Checkpoint::has_counter(const std::string& name) const {
  auto counters = section(*archive_, "counters", path_);
  c10::IValue value;
  return read_entry(path_, "counter '" + name + "'", [&] { return counters.try_read(name, value); });
}

int64_t Checkpoint::counter(const std::string& name) const {
  auto counters = section(*archive_, "counters", path_);
  c10::IValue value;
  if (!read_entry(path_, "counter '" + name + "'", [&] { return counters.try_read(name, value); })) {
    throw Error("checkpoint " + path_.string() + " has no counter '" + name + "'");
  }
  if (!value.isInt()) throw Error("checkpoint " + path_.string() + ": counter '" + name + "' is not an integer");
  return value.toInt();
}

std::string Checkpoint::config_yaml() const {
  auto meta = section(*archive_, "meta", path_);
  c10::IValue value;
  return read_entry(path_, "its config", [&] { return meta.try_read("config_yaml", value); }) && value.isString() ? value.toStringRef()
                                                                                                       : std::string();
}

std::string Checkpoint::text(const std::string& name) const {
  auto meta = section(*archive_, "meta", path_);
  c10::IValue value;
  return read_entry(path_, "text '" + name + "'", [&] { return meta.try_read("text_" + name, value); }) && value.isString() ? value.toStringRef()
                                                                                                                   : std::string();
}

bool Checkpoint::has_module(const std::string& name) const {
  auto modules = section(*archive_, "modules", path_);
  torch::serialize::InputArchive sub;
  return read_entry(path_, "module '" + name + "'", [&] { return modules.try_read(name, sub); });
}

namespace {

std::string shape_text(const at::Tensor& t) { return c10::str(t.sizes()); }

// Module::load replaces each tensor with the stored one whatever its shape, so a checkpoint
// of another model size would load "fine" and fail later. Compare every shape first.
// Finds `path` ("fc1.weight") in nested archives; an undefined tensor when absent.
at::Tensor find_tensor(torch::serialize::InputArchive& node, const std::string& path, bool is_buffer) {
  const size_t dot = path.find('.');
  at::Tensor found;
  if (dot == std::string::npos) {
    node.try_read(path, found, is_buffer);
    return found;
  }
  torch::serialize::InputArchive child;
  if (!node.try_read(path.substr(0, dot), child)) return found;
  return find_tensor(child, path.substr(dot + 1), is_buffer);
}

void check_module_matches(torch::serialize::InputArchive& archive, const torch::nn::Module& module,
                          const std::string& where) {
  auto check = [&](const std::string& name, const at::Tensor& expected, bool is_buffer) {
    const at::Tensor stored = find_tensor(archive, name, is_buffer);
    if (!stored.defined()) throw Error(where + " has no tensor '" + name + "'");
    if (!stored.sizes().equals(expected.sizes())) {
      throw Error(where + " does not match the model built from the config: '" + name + "' is " +
                  shape_text(stored) + " in the checkpoint and " + shape_text(expected) +
                  " in the model");
    }
  };
  for (const auto& item : module.named_parameters(/*recurse=*/true)) check(item.key(), item.value(), false);
  for (const auto& item : module.named_buffers(/*recurse=*/true)) check(item.key(), item.value(), true);
}

}  // namespace

void Checkpoint::restore_module(const std::string& name, torch::nn::Module& module) const {
  auto modules = section(*archive_, "modules", path_);
  torch::serialize::InputArchive sub;
  if (!read_entry(path_, "module '" + name + "'", [&] { return modules.try_read(name, sub); })) {
    throw Error("checkpoint " + path_.string() + " has no module '" + name + "'");
  }
  read_entry(path_, "module '" + name + "'", [&] { check_module_matches(sub, module, "checkpoint " + path_.string() + ": module '" + name + "'"); });
  try {
    module.load(sub);
  } catch (const c10::Error& e) {
    throw Error("checkpoint " + path_.string() + ": module '" + name +
                "' does not match the model built from the config: " +
                first_line(e.what_without_backtrace()));
  }
}

void Checkpoint::restore_optimizer(const std::string& name,
                                   torch::optim::Optimizer& optimizer) const {
  auto optimizers = section(*archive_, "optimizers", path_);
  torch::serialize::InputArchive sub;
  if (!read_entry(path_, "optimizer '" + name + "'", [&] { return optimizers.try_read(name, sub); })) {
    throw Error("checkpoint " + path_.string() + " has no optimizer '" + name + "'");
  }
  try {
    optimizer.load(sub);
  } catch (const c10::Error& e) {
    throw Error("checkpoint " + path_.string() + ": optimizer '" + name +
                "' does not match: " + first_line(e.what_without_backtrace()));
  }
}

void Checkpoint::restore_rng_states() const {
  auto rng = section(*archive_, "rng", path_);
  read_entry(path_, "the random generators' states", [&] {
    at::Tensor state;
    if (rng.try_read("cpu", state)) {
      at::Generator cpu = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(cpu.mutex());
      cpu.set_state(state);
    }
    const int gpus = static_cast<int>(torch::cuda::device_count());
    for (int i = 0; i < gpus; ++i) {
      if (!rng.try_read("cuda" + std::to_string(i), state)) continue;
      auto generator = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, i));
      std::lock_guard<std::mutex> lock(generator.mutex());
      generator.set_state(state);
    }
  });
}

CheckpointDir::CheckpointDir(std::filesystem::path dir, int64_t keep_last)
    : dir_(std::move(dir)), keep_last_(std::max<int64_t>(keep_last, 1)) {}

std::filesystem::path CheckpointDir::save(const CheckpointWriter& writer, const std::string& kind,
                                          int64_t step) const {
  check_name(kind);
  ensure_directory(dir_);
  remove_dead_writers_temporaries();
  std::ostringstream file_name;
  file_name << kind << "_" << std::setw(9) << std::setfill('0') << step << ".ckpt";
  const std::filesystem::path path = dir_ / file_name.str();
  writer.save(path);
  // keep_last counts checkpoints that verify: a damaged one is moved aside, not counted, so
  // it never pushes a good one out.
  const auto found = protected_.find(kind);
  int64_t kept = 0;
  for (const auto& older : list(kind)) {
    if (found != protected_.end() && older == found->second) continue;
    if (older != path && kept < keep_last_) {
      const std::string problem = Checkpoint::verify(older);
      if (!problem.empty()) {
        move_aside(older, problem);
        continue;
      }
    }
    if (++kept <= keep_last_) continue;
    std::error_code ec;
    std::filesystem::remove(older, ec);
  }
  return path;
}

void CheckpointDir::move_aside(const std::filesystem::path& path, const std::string& problem) const {
  const std::filesystem::path corrupt = path.string() + ".corrupt";
  std::error_code ec;
  std::filesystem::rename(path, corrupt, ec);
  if (ec) {
    spdlog::warn("{} (could not move it aside: {})", problem, ec.message());
  } else {
    spdlog::warn("{}; moved aside as {}", problem, corrupt.filename().string());
  }
}

void CheckpointDir::remove_dead_writers_temporaries() const {
  // <name>.ckpt.tmp.<pid> of a save that was killed: the writer is gone, the file is garbage.
  static const std::regex temporary(".*\\.ckpt\\.tmp\\.([0-9]+)");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::smatch match;
    const std::string file_name = entry.path().filename().string();
    if (!std::regex_match(file_name, match, temporary)) continue;
    if (!writer_gone(match[1].str())) continue;  // a live writer's save in progress
    spdlog::warn("removing {}, left by a save that was killed", entry.path().string());
    std::filesystem::remove(entry.path(), ec);
  }
}

void CheckpointDir::protect(const std::string& kind, std::filesystem::path path) { protected_[kind] = std::move(path); }

std::vector<std::filesystem::path> CheckpointDir::list(const std::string& kind) const {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  const std::regex pattern(kind + "_([0-9]+)\\.ckpt");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::smatch match;
    const std::string file_name = entry.path().filename().string();
    if (std::regex_match(file_name, match, pattern)) {
      found.emplace_back(std::stoll(match[1].str()), entry.path());
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::filesystem::path> paths;
  for (auto& [step, path] : found) paths.push_back(std::move(path));
  return paths;
}

std::optional<Checkpoint> CheckpointDir::load_latest_valid(const std::string& kind) const {
  remove_dead_writers_temporaries();
  for (const auto& path : list(kind)) {
    try {
      return Checkpoint::load(path);
    } catch (const Error& e) {
      move_aside(path, e.what());  // and an older one is tried
    }
  }
  return std::nullopt;
}

}  // namespace wm::core
