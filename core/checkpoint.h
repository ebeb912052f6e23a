// Checkpoints: modules, optimizer state, step counters, RNG states and the config in one
// file, written atomically (temporary name, fsync, rename) and sealed with a checksum, so a
// crash or a bad disk never yields a checkpoint that loads with wrong contents.
//
// File layout: "WMCKPT01" | u64 payload size | payload (a torch archive) | u32 CRC-32C of
// the payload. Everything is little endian.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}
namespace torch::serialize {
class OutputArchive;
class InputArchive;
}  // namespace torch::serialize

namespace wm::core {

class CheckpointWriter {
 public:
  CheckpointWriter();
  ~CheckpointWriter();
  CheckpointWriter(CheckpointWriter&&) noexcept;

  // Names are identifiers ([A-Za-z0-9_]); each is written once.
  void add_module(const std::string& name, const torch::nn::Module& module);
  void add_optimizer(const std::string& name, const torch::optim::Optimizer& optimizer);
  void set_counter(const std::string& name, int64_t value);
  // The resolved config (YAML), so a model can be rebuilt from the checkpoint alone.
  void set_config_yaml(const std::string& yaml);
  // Any other named text, e.g. the YAML of one component's options.
  void set_text(const std::string& name, const std::string& text);
  // The default CPU generator and every visible CUDA generator.
  void capture_rng_states();

  // The file's bytes, and writing them atomically.
  std::string serialize() const;
  void save(const std::filesystem::path& path) const;

 private:
  struct Archives;
  std::unique_ptr<Archives> archives_;
};

class Checkpoint {
 public:
  // Verifies magic, size and checksum before parsing: a truncated or corrupt file throws an
  // Error that names the file and the problem.
  static Checkpoint load(const std::filesystem::path& path);
  // The same checks and parsing of a file's bytes read elsewhere (rank 0 reads a checkpoint
  // and sends it to the other ranks); `path` names it in errors.
  static Checkpoint from_bytes(const std::string& bytes, const std::filesystem::path& path);
  // Magic, size and checksum only (no parsing): empty when intact, else what is wrong.
  static std::string verify(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  // Hex CRC-32C and size of the payload: identifies the contents (e.g. the tokenizer that
  // produced a token shard).
  const std::string& content_hash() const { return content_hash_; }

  bool has_counter(const std::string& name) const;
  int64_t counter(const std::string& name) const;
  std::string config_yaml() const;
  // Empty when absent.
  std::string text(const std::string& name) const;
  bool has_module(const std::string& name) const;
  void restore_module(const std::string& name, torch::nn::Module& module) const;
  void restore_optimizer(const std::string& name, torch::optim::Optimizer& optimizer) const;
  void restore_rng_states() const;

 private:
  Checkpoint() = default;
  std::filesystem::path path_;
  std::string content_hash_;
  std::shared_ptr<torch::serialize::InputArchive> archive_;
};

// The checkpoints/ folder of a run: "<kind>_<step, 9 digits>.ckpt" files, the newest
// `keep_last` of each kind kept.
class CheckpointDir {
 public:
  CheckpointDir(std::filesystem::path dir, int64_t keep_last);

  std::filesystem::path save(const CheckpointWriter& writer, const std::string& kind,
                             int64_t step) const;
  // A checkpoint of `kind` that keep_last never removes and does not count (early stopping's
  // best); it replaces the one protected before.
  void protect(const std::string& kind, std::filesystem::path path);
  // Paths of `kind`, newest (highest step) first.
  std::vector<std::filesystem::path> list(const std::string& kind) const;
  // The newest checkpoint of `kind` that passes its checks; broken ones are moved aside as
  // <file>.corrupt with a warning naming them. nullopt when none is valid (or none exists).
  std::optional<Checkpoint> load_latest_valid(const std::string& kind) const;

 private:
  void move_aside(const std::filesystem::path& path, const std::string& problem) const;
  // Removes <name>.ckpt.tmp.<pid> files whose writer process is gone.
  void remove_dead_writers_temporaries() const;

  std::filesystem::path dir_;
  int64_t keep_last_;
  std::map<std::string, std::filesystem::path> protected_;  // kind -> its protected checkpoint
};

}  // namespace wm::core
