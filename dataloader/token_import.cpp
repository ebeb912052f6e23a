#include "dataloader/token_import.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <optional>

#include "core/error.h"
#include "core/file_io.h"
#include "core/npy.h"

namespace wm::dataloader {

namespace {

constexpr const char* kSidecarSuffixes[] = {".actions.npy", ".rewards.npy", ".dones.npy"};

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_token_file(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  if (!ends_with(name, ".npy")) return false;
  return std::none_of(std::begin(kSidecarSuffixes), std::end(kSidecarSuffixes), [&](const char* s) { return ends_with(name, s); });
}

// X.npy -> X<suffix> beside it.
std::filesystem::path sidecar_of(const std::filesystem::path& tokens, const std::string& suffix) {
  return tokens.parent_path() / (tokens.stem().string() + suffix);
}

struct TokenFile {
  std::filesystem::path input, path;
};

std::string shape_text(const at::Tensor& t) { return c10::str(t.sizes()); }

bool is_integral(const at::Tensor& t) { return c10::isIntegralType(t.scalar_type(), /*includeBool=*/false); }

// "frame 17" or "row 17": the first index where `bad` [T, ...] holds.
int64_t first_bad_row(const at::Tensor& bad) { return bad.reshape({bad.size(0), -1}).any(1).nonzero().select(1, 0)[0].item<int64_t>(); }

// The token array of `path` as int16 [T, h, w], every id checked.
at::Tensor read_tokens(const std::filesystem::path& path, const TokenImportOptions& o) {
  const at::Tensor raw = core::read_npy(path);
  const std::string file = path.string();
  if (!is_integral(raw)) throw core::Error(file + ": token ids must be integers, got " + std::string(c10::toString(raw.scalar_type())));
  const int64_t h = o.grid_height, w = o.grid_width;
  at::Tensor tokens;
  if (raw.dim() == 2 && raw.size(1) == h * w) {
    tokens = raw.view({raw.size(0), h, w});
  } else if (raw.dim() == 3 && raw.size(1) == h && raw.size(2) == w) {
    tokens = raw;
  } else {
    throw core::Error(file + ": shape " + shape_text(raw) + " is neither [T, " + std::to_string(h * w) + "] nor [T, " + std::to_string(h) +
                      ", " + std::to_string(w) + "] (the grid is " + std::to_string(h) + "x" + std::to_string(w) + ")");
  }
  if (tokens.size(0) == 0) throw core::Error(file + ": holds no frames");
  const at::Tensor ids = tokens.to(torch::kInt64);
  const at::Tensor outside = (ids < 0) | (ids >= o.vocab_size);
  if (outside.any().item<bool>()) {
    const int64_t frame = first_bad_row(outside);
    const int64_t place = outside[frame].flatten().nonzero()[0][0].item<int64_t>();
    throw core::Error(file + ": token id " + std::to_string(ids[frame].flatten()[place].item<int64_t>()) + " at frame " + std::to_string(frame) +
                      ", place (" + std::to_string(place / w) + ", " + std::to_string(place % w) + ") is outside the vocabulary 0.." +
                      std::to_string(o.vocab_size - 1));
  }
  return ids.to(torch::kInt16);
}

void check_length(const std::filesystem::path& path, const at::Tensor& values, int64_t frames) {
  if (values.dim() == 0 || values.size(0) != frames) {
    throw core::Error(path.string() + ": " + (values.dim() == 0 ? std::string("a scalar") : std::to_string(values.size(0)) + " rows") +
                      " for " + std::to_string(frames) + " frames of tokens");
  }
}

void check_finite(const std::filesystem::path& path, const at::Tensor& values) {
  const at::Tensor bad = values.isfinite().logical_not();
  if (bad.any().item<bool>()) {
    const int64_t row = first_bad_row(bad);
    throw core::Error(path.string() + ": row " + std::to_string(row) + " holds " + c10::str(values[row].flatten()[bad[row].flatten().nonzero()[0][0]].item<double>()) +
                      ", not a finite number");
  }
}

// Discrete actions int64 [T] (non-negative) or continuous float32 [T, A] (finite).
at::Tensor read_actions(const std::filesystem::path& path, int64_t frames) {
  const at::Tensor raw = core::read_npy(path);
  check_length(path, raw, frames);
  if (is_integral(raw)) {
    if (raw.dim() != 1) throw core::Error(path.string() + ": discrete actions must be one integer per frame [T], got " + shape_text(raw));
    const at::Tensor actions = raw.to(torch::kInt64);
    if ((actions < 0).any().item<bool>()) {
      const int64_t row = first_bad_row(actions < 0);
      throw core::Error(path.string() + ": row " + std::to_string(row) + " holds action " + std::to_string(actions[row].item<int64_t>()) +
                        ", discrete actions are 0, 1, 2, ...");
    }
    return actions;
  }
  if (raw.dim() > 2) throw core::Error(path.string() + ": continuous actions must be [T] or [T, A], got " + shape_text(raw));
  const at::Tensor actions = raw.to(torch::kFloat32).reshape({frames, -1});
  check_finite(path, actions);
  return actions;
}

at::Tensor read_rewards(const std::filesystem::path& path, int64_t frames) {
  const at::Tensor raw = core::read_npy(path);
  check_length(path, raw, frames);
  if (raw.dim() != 1) throw core::Error(path.string() + ": rewards must be one number per frame [T], got " + shape_text(raw));
  const at::Tensor rewards = raw.to(torch::kFloat32);
  check_finite(path, rewards);
  return rewards;
}

at::Tensor read_dones(const std::filesystem::path& path, int64_t frames) {
  const at::Tensor raw = core::read_npy(path);
  check_length(path, raw, frames);
  if (raw.dim() != 1) throw core::Error(path.string() + ": episode ends must be one 0/1 per frame [T], got " + shape_text(raw));
  const at::Tensor bad = (raw != 0) & (raw != 1);
  if (bad.any().item<bool>()) {
    const int64_t row = first_bad_row(bad);
    throw core::Error(path.string() + ": row " + std::to_string(row) + " holds " + c10::str(raw[row].item<double>()) + ", episode ends are 0 or 1");
  }
  return raw.to(torch::kUInt8);
}

// One token file and its sidecars as a shard, or a core::Error naming what is wrong.
TokenShard load_shard(const TokenFile& f, const TokenImportOptions& o, const TokenizerIdentity& identity) {
  TokenShard shard;
  shard.tokens = read_tokens(f.path, o);
  const int64_t T = shard.tokens.size(0);
  const auto actions = sidecar_of(f.path, ".actions.npy"), rewards = sidecar_of(f.path, ".rewards.npy"), dones = sidecar_of(f.path, ".dones.npy");
  const bool has_actions = std::filesystem::exists(actions), has_rewards = std::filesystem::exists(rewards),
             has_dones = std::filesystem::exists(dones);
  if (has_actions || has_rewards || has_dones) {
    shard.actions = has_actions ? read_actions(actions, T) : torch::zeros({T}, torch::kInt64);
    shard.rewards = has_rewards ? read_rewards(rewards, T) : torch::zeros({T}, torch::kFloat32);
    shard.dones = has_dones ? read_dones(dones, T) : torch::zeros({T}, torch::kUInt8);
  }
  shard.meta.name = shard_name(f.input, f.path);
  shard.meta.source = f.path.string();
  shard.meta.frames = T;
  shard.meta.fps = o.fps;
  shard.meta.tokenizer_hash = identity.hash;
  return shard;
}

// Token files under the inputs, in a stable order; inputs that do not exist are failures.
std::vector<TokenFile> find_token_files(const std::vector<std::filesystem::path>& inputs, std::vector<std::string>& failures) {
  std::vector<TokenFile> files;
  for (const auto& input : inputs) {
    if (std::filesystem::is_regular_file(input)) {
      if (is_token_file(input)) {
        files.push_back({input, input});
      } else {
        failures.push_back(input.string() + ": not a .npy token file");
      }
    } else if (std::filesystem::is_directory(input)) {
      std::vector<std::filesystem::path> found;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(input)) {
        if (entry.is_regular_file() && is_token_file(entry.path())) found.push_back(entry.path());
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) failures.push_back(input.string() + ": no .npy token files in this folder");
      for (const auto& path : found) files.push_back({input, path});
    } else {
      failures.push_back(input.string() + ": no such file or folder");
    }
  }
  return files;
}

}  // namespace

TokenizerIdentity imported_identity(const TokenImportOptions& o) {
  TokenizerIdentity identity;
  identity.hash = "imported-" + std::to_string(o.grid_height) + "x" + std::to_string(o.grid_width) + "-v" + std::to_string(o.vocab_size);
  identity.checkpoint = "imported";
  identity.grid_height = o.grid_height;
  identity.grid_width = o.grid_width;
  identity.vocab_size = o.vocab_size;
  return identity;
}

TokenImportResult import_tokens(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out,
                                const TokenImportOptions& options) {
  if (options.grid_height < 1 || options.grid_width < 1) {
    throw core::Error("wm tokens import: the grid " + std::to_string(options.grid_height) + "x" + std::to_string(options.grid_width) +
                      " must be positive (--grid HxW, e.g. 8x16)");
  }
  if (options.vocab_size < 1 || options.vocab_size > 32768) {
    throw core::Error("wm tokens import: the vocabulary " + std::to_string(options.vocab_size) + " is outside 1..32768 (ids are stored as int16)");
  }
  const TokenizerIdentity identity = imported_identity(options);
  if (is_token_dump(out)) {
    const TokenManifest existing = read_token_manifest(out);
    if (existing.tokenizer.hash != identity.hash) {
      throw core::Error(out.string() + " holds tokens of " + existing.tokenizer.hash.substr(0, 24) + " (grid " +
                        std::to_string(existing.tokenizer.grid_height) + "x" + std::to_string(existing.tokenizer.grid_width) +
                        ", vocabulary " + std::to_string(existing.tokenizer.vocab_size) + "): import into another folder");
    }
  }
  core::ensure_directory(out);
  if (const int removed = remove_partial_shards(out); removed > 0) {
    spdlog::info("removed {} partial shard(s) an interrupted run left in {}", removed, out.string());
  }

  TokenImportResult result;
  const std::vector<TokenFile> files = find_token_files(inputs, result.failures);
  result.files = static_cast<int64_t>(files.size());
  // One action kind per folder (the trainer reads them as one space): 0 discrete, A continuous
  // values; fixed by the first shard with actions, already there or imported now.
  std::optional<int64_t> action_width;
  std::string action_width_from;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    const auto meta = read_shard_meta(entry.path());
    if (!entry.is_directory() || !meta || !meta->has_actions || meta->tokenizer_hash != identity.hash) continue;
    const auto shape = core::read_npy_header(entry.path() / "actions.npy").shape;
    action_width = shape.size() == 2 ? shape[1] : 0;
    action_width_from = meta->source;
    break;
  }
  std::map<std::string, std::string> names_taken;  // shard name -> the file that took it in this run
  auto skip = [&](const std::string& reason) {
    result.failures.push_back(reason);
    spdlog::warn("skipped {}", reason);
  };
  for (const TokenFile& f : files) {
    const std::string name = shard_name(f.input, f.path);
    const auto meta = read_shard_meta(out / name);
    // Two files of one name (a/seg.npy and b/seg.npy) would overwrite each other's shard.
    if (const auto taken = names_taken.find(name); taken != names_taken.end()) {
      skip(f.path.string() + ": its shard name " + name + " is taken by " + taken->second + " (import them into separate folders)");
      continue;
    }
    if (meta && meta->source != f.path.string()) {
      skip(f.path.string() + ": its shard name " + name + " is taken by " + meta->source + ", imported before (import it into another folder)");
      continue;
    }
    names_taken[name] = f.path.string();
    if (!options.force && meta && meta->tokenizer_hash == identity.hash) {
      ++result.already_done;
      continue;
    }
    TokenShard shard;
    try {
      shard = load_shard(f, options, identity);
    } catch (const std::exception& e) {
      skip(e.what());
      continue;
    }
    if (shard.actions.defined()) {
      const int64_t width = shard.actions.dim() == 2 ? shard.actions.size(1) : 0;
      if (action_width && *action_width != width) {
        auto kind = [](int64_t w) { return w == 0 ? std::string("discrete actions") : std::to_string(w) + "-value continuous actions"; };
        skip(f.path.string() + ": " + kind(width) + ", but " + action_width_from + " has " + kind(*action_width) +
             " (one action space per folder)");
        continue;
      }
      action_width = width;
      action_width_from = f.path.string();
    }
    write_token_shard(out, shard);  // a failure to write (a full disk) stops the run
    ++result.written;
    result.frames += shard.meta.frames;
  }
  result.manifest = rebuild_token_manifest(out, identity);
  return result;
}

}  // namespace wm::dataloader
