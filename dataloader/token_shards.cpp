#include "dataloader/token_shards.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/npy.h"

namespace wm::dataloader {

namespace {

// A field of the manifest or of a shard's meta.json that is present but not what it must be.
struct BadField : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// nlohmann's get<int64_t>() converts a fraction or an out-of-range number without a check
// (undefined behaviour, found by fuzz_token_dump), so whole numbers are read through this.
int64_t whole_number(const nlohmann::json& j, const std::string& key, int64_t min, int64_t max) {
  const bool fits = (j.is_number_unsigned() && j.get<uint64_t>() <= static_cast<uint64_t>(max) &&
                     static_cast<int64_t>(j.get<uint64_t>()) >= min) ||
                    (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() >= min && j.get<int64_t>() <= max);
  if (!fits) {
    throw BadField(key + " is " + j.dump() + ", expected a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return j.get<int64_t>();
}

constexpr int64_t kMaxCount = int64_t{1} << 48;  // frames, pixels, grid cells, codes: far above any real dump
constexpr int64_t kMaxCrc = 0xFFFFFFFFLL;

nlohmann::ordered_json meta_to_json(const ShardMeta& m) {
  return {{"name", m.name},
          {"source", m.source},
          {"frames", m.frames},
          {"fps", m.fps},
          {"source_frame", {m.source_height, m.source_width}},
          {"tokenizer_hash", m.tokenizer_hash},
          {"actions", m.has_actions},
          {"tokens_crc32c", m.tokens_crc32c}};
}

ShardMeta meta_from_json(const nlohmann::json& j) {
  ShardMeta m;
  m.name = j.at("name").get<std::string>();
  m.source = j.at("source").get<std::string>();
  m.frames = whole_number(j.at("frames"), "frames", 0, kMaxCount);
  m.fps = j.at("fps").get<double>();
  m.source_height = whole_number(j.at("source_frame").at(0), "source_frame[0]", 0, kMaxCount);
  m.source_width = whole_number(j.at("source_frame").at(1), "source_frame[1]", 0, kMaxCount);
  m.tokenizer_hash = j.at("tokenizer_hash").get<std::string>();
  m.has_actions = j.at("actions").get<bool>();
  m.tokens_crc32c = static_cast<uint32_t>(whole_number(j.at("tokens_crc32c"), "tokens_crc32c", 0, kMaxCrc));
  return m;
}

uint32_t file_crc32c(const std::filesystem::path& path) { return core::crc32c(core::read_file(path)); }

}  // namespace

int64_t TokenManifest::frames() const {
  int64_t total = 0;
  for (const auto& s : shards) total += s.frames;
  return total;
}

std::string shard_name(const std::filesystem::path& input, const std::filesystem::path& source) {
  std::filesystem::path relative = source.lexically_relative(input);
  if (relative.empty() || relative == "." || *relative.begin() == "..") relative = source.filename();
  std::string name;
  for (const auto& part : relative) name += (name.empty() ? "" : "__") + part.string();
  // A shard directory must not look like a leftover of an interrupted write.
  if (name.size() >= 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) name += "_";
  return name;
}

void write_token_shard(const std::filesystem::path& root, TokenShard& shard) {
  const std::filesystem::path final_dir = root / shard.meta.name;
  const std::filesystem::path tmp = root / (shard.meta.name + ".tmp");
  std::filesystem::remove_all(tmp);
  core::ensure_directory(tmp);
  try {
    core::write_npy(tmp / "tokens.npy", shard.tokens.to(torch::kInt16));
    shard.meta.tokens_crc32c = file_crc32c(tmp / "tokens.npy");
    shard.meta.has_actions = shard.actions.defined();
    if (shard.meta.has_actions) {
      core::write_npy(tmp / "actions.npy", shard.actions);
      core::write_npy(tmp / "rewards.npy", shard.rewards);
      core::write_npy(tmp / "dones.npy", shard.dones);
    }
    core::write_file_atomic(tmp / "meta.json", meta_to_json(shard.meta).dump(1) + "\n");
    core::fsync_directory(tmp);
  } catch (...) {
    // A full disk or a vanished folder: leave nothing half-written behind.
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
  // A shard redone with --force replaces the old one only once the new one is complete.
  std::error_code ec;
  std::filesystem::remove_all(final_dir, ec);
  std::filesystem::rename(tmp, final_dir, ec);
  if (ec) throw core::Error("cannot rename " + tmp.string() + " to " + final_dir.string() + ": " + ec.message());
  core::fsync_directory(root);
}

std::optional<ShardMeta> read_shard_meta(const std::filesystem::path& shard_dir) {
  std::ifstream in(shard_dir / "meta.json");
  if (!in) return std::nullopt;
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  try {
    return meta_from_json(j);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  } catch (const BadField&) {
    return std::nullopt;
  }
}

int remove_partial_shards(const std::filesystem::path& root) {
  int removed = 0;
  if (!std::filesystem::is_directory(root)) return 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (entry.is_directory() && entry.path().extension() == ".tmp") {
      std::filesystem::remove_all(entry.path());
      ++removed;
    }
  }
  return removed;
}

namespace {

// An exclusive flock held for its lifetime (released by the kernel if the process dies).
class ManifestLock {
 public:
  explicit ManifestLock(const std::filesystem::path& root) : fd_(::open((root / ".manifest.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw core::Error("cannot open " + (root / ".manifest.lock").string() + ": " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~ManifestLock() { ::close(fd_); }
  ManifestLock(const ManifestLock&) = delete;
  ManifestLock& operator=(const ManifestLock&) = delete;

 private:
  int fd_;
};

}  // namespace

TokenManifest rebuild_token_manifest(const std::filesystem::path& root, const TokenizerIdentity& tokenizer) {
  const ManifestLock lock(root);
  TokenManifest manifest;
  manifest.tokenizer = tokenizer;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (!entry.is_directory() || entry.path().extension() == ".tmp") continue;
    if (auto meta = read_shard_meta(entry.path()); meta && meta->tokenizer_hash == tokenizer.hash) manifest.shards.push_back(*meta);
  }
  std::sort(manifest.shards.begin(), manifest.shards.end(), [](const auto& a, const auto& b) { return a.name < b.name; });

  nlohmann::ordered_json j;
  j["format"] = kTokenShardsFormat;
  j["tokenizer"] = {{"checkpoint", tokenizer.checkpoint},
                    {"hash", tokenizer.hash},
                    {"grid", {tokenizer.grid_height, tokenizer.grid_width}},
                    {"vocab_size", tokenizer.vocab_size},
                    {"frame", {tokenizer.frame_height, tokenizer.frame_width}}};
  j["frames"] = manifest.frames();
  j["shards"] = nlohmann::ordered_json::array();
  for (const auto& s : manifest.shards) {
    j["shards"].push_back({{"name", s.name}, {"source", s.source}, {"frames", s.frames}, {"tokens_crc32c", s.tokens_crc32c},
                           {"actions", s.has_actions}});
  }
  core::write_file_atomic(root / "manifest.json", j.dump(1) + "\n");
  return manifest;
}

bool is_token_dump(const std::filesystem::path& root) {
  std::ifstream in(root / "manifest.json");
  if (!in) return false;
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  // Checked for type first: j.value() throws on a "format" that is not a string (found by fuzz_token_dump).
  return !j.is_discarded() && j.is_object() && j.contains("format") && j["format"].is_string() &&
         j["format"].get<std::string>() == kTokenShardsFormat;
}

TokenManifest read_token_manifest(const std::filesystem::path& root) {
  const std::filesystem::path path = root / "manifest.json";
  if (!std::filesystem::exists(path)) {
    // A dump writes its manifest when it finishes: shard folders without one are a dump that
    // was interrupted, not something else.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      const bool shard = entry.is_directory() && (std::filesystem::exists(entry.path() / "meta.json") || entry.path().extension() == ".tmp");
      if (shard) {
        throw core::Error(root.string() + " is an incomplete token dump (it has shards but no manifest.json, which a dump writes when it "
                          "finishes): re-run the same 'wm tokens dump' to finish it");
      }
    }
    throw core::Error(path.string() + " does not exist: " + root.string() + " is not a token dump");
  }
  const auto j = nlohmann::json::parse(core::read_file(path), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw core::Error(path.string() + " is not valid JSON");
  try {
    if (j.at("format").get<std::string>() != kTokenShardsFormat) {
      throw core::Error(path.string() + ": format " + j.at("format").dump() + " is not " + kTokenShardsFormat);
    }
    TokenManifest m;
    const auto& t = j.at("tokenizer");
    m.tokenizer = {t.at("checkpoint").get<std::string>(),
                   t.at("hash").get<std::string>(),
                   whole_number(t.at("grid").at(0), "tokenizer.grid[0]", 1, kMaxCount),
                   whole_number(t.at("grid").at(1), "tokenizer.grid[1]", 1, kMaxCount),
                   whole_number(t.at("vocab_size"), "tokenizer.vocab_size", 1, std::numeric_limits<int32_t>::max()),
                   // 0 x 0: tokens imported without a tokenizer (wm tokens import)
                   whole_number(t.at("frame").at(0), "tokenizer.frame[0]", 0, kMaxCount),
                   whole_number(t.at("frame").at(1), "tokenizer.frame[1]", 0, kMaxCount)};
    for (const auto& s : j.at("shards")) {
      ShardMeta meta;
      meta.name = s.at("name").get<std::string>();
      // A shard is a folder directly under the dump: a name that leaves it is not one.
      if (meta.name.empty() || meta.name == "." || meta.name == ".." || meta.name.find('/') != std::string::npos) {
        throw BadField("shards[].name " + s.at("name").dump() + " is not the name of a folder in the dump");
      }
      meta.source = s.at("source").get<std::string>();
      meta.frames = whole_number(s.at("frames"), "shards[].frames", 0, kMaxCount);
      meta.tokens_crc32c = static_cast<uint32_t>(whole_number(s.at("tokens_crc32c"), "shards[].tokens_crc32c", 0, kMaxCrc));
      meta.has_actions = s.at("actions").get<bool>();
      meta.tokenizer_hash = m.tokenizer.hash;
      m.shards.push_back(std::move(meta));
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw core::Error(path.string() + ": " + e.what());
  } catch (const BadField& e) {
    throw core::Error(path.string() + ": " + e.what());
  }
}

std::string verify_token_shard(const std::filesystem::path& root, const TokenManifest& manifest, const ShardMeta& shard) {
  const std::filesystem::path dir = root / shard.name;
  const std::filesystem::path tokens_path = dir / "tokens.npy";
  if (!std::filesystem::exists(tokens_path)) return tokens_path.string() + " is missing";
  try {
    if (file_crc32c(tokens_path) != shard.tokens_crc32c) return tokens_path.string() + ": CRC-32C differs from the manifest's";
    const core::NpyHeader header = core::read_npy_header(tokens_path);
    const std::vector<int64_t> expected = {shard.frames, manifest.tokenizer.grid_height, manifest.tokenizer.grid_width};
    if (header.dtype != at::kShort || header.shape != expected) {
      return tokens_path.string() + " is " + std::string(c10::toString(header.dtype)) + " " + c10::str(at::IntArrayRef(header.shape)) +
             ", the manifest says int16 " + c10::str(at::IntArrayRef(expected));
    }
    const at::Tensor tokens = core::read_npy(tokens_path);
    if (tokens.numel() > 0 && (tokens.min().item<int64_t>() < 0 || tokens.max().item<int64_t>() >= manifest.tokenizer.vocab_size)) {
      return tokens_path.string() + " holds ids outside 0.." + std::to_string(manifest.tokenizer.vocab_size - 1);
    }
    const auto meta = read_shard_meta(dir);
    if (!meta) return (dir / "meta.json").string() + " is missing or unreadable";
    if (meta->tokenizer_hash != manifest.tokenizer.hash) return (dir / "meta.json").string() + " names another tokenizer";
    if (shard.has_actions) {
      for (const char* file : {"actions.npy", "rewards.npy", "dones.npy"}) {
        const core::NpyHeader h = core::read_npy_header(dir / file);
        if (h.shape.empty() || h.shape[0] != shard.frames) {
          return (dir / file).string() + " does not have " + std::to_string(shard.frames) + " rows";
        }
        if (at::isFloatingType(h.dtype)) {
          const at::Tensor values = core::read_npy(dir / file);
          if (values.numel() > 0 && !torch::isfinite(values).all().item<bool>()) {
            const int64_t row = (~torch::isfinite(values)).reshape({values.size(0), -1}).any(1).nonzero()[0][0].item<int64_t>();
            return (dir / file).string() + " holds a NaN or infinite value in row " + std::to_string(row);
          }
        }
      }
    }
  } catch (const core::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace wm::dataloader
