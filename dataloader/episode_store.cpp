#include "dataloader/episode_store.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <cstring>
#include <regex>

#include "core/error.h"
#include "core/file_io.h"
#include "core/npy.h"

namespace wm::dataloader {

namespace {

constexpr const char* kArrays[] = {"frames.npy", "actions.npy", "rewards.npy", "dones.npy"};
const std::regex kEpisodeName("ep_([0-9]{6,})");
const std::regex kWritingName("\\.writing\\.([0-9]+)\\.[0-9]+\\.tmp");

// The store's advisory lock, held while episode numbers are claimed and the manifest written.
class StoreLock {
 public:
  explicit StoreLock(const std::filesystem::path& dir) {
    const std::filesystem::path path = dir / ".store.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw core::Error("cannot open " + path.string() + ": " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) throw core::Error("cannot lock " + path.string() + ": " + std::strerror(errno));
    }
  }
  ~StoreLock() { ::close(fd_); }  // closing releases the lock
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
};

// Whether the writer of a temporary folder may still be running: folders named by a live
// process are its work in progress. Older folders (ep_XXXXXX.tmp) name no process.
bool writer_alive(const std::string& folder_name) {
  std::smatch match;
  if (!std::regex_match(folder_name, match, kWritingName)) return false;
  return !core::writer_gone(match[1].str());
}

// The complete episode folders, by number, those numbered above `after` only.
std::vector<std::pair<int64_t, std::filesystem::path>> episode_folders(const std::filesystem::path& dir, int64_t after = -1) {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && std::regex_match(name, match, kEpisodeName) && std::stoll(match[1].str()) > after) {
      found.emplace_back(std::stoll(match[1].str()), entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string episode_name(int64_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "ep_%06ld", static_cast<long>(index));
  return name;
}

// Returns recorded in the manifest, by episode name, so a rescan reads headers only.
std::map<std::string, std::pair<int64_t, double>> manifest_returns(const std::filesystem::path& dir) {
  std::map<std::string, std::pair<int64_t, double>> known;
  std::ifstream in(dir / "manifest.json");
  const auto manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.contains("episodes")) return known;  // missing or damaged: rescan all
  for (const auto& e : manifest["episodes"]) {
    if (e.contains("name") && e.contains("length") && e.contains("return") && e["return"].is_number()) {
      known[e["name"].get<std::string>()] = {e["length"].get<int64_t>(), e["return"].get<double>()};
    }
  }
  return known;
}

// Reads the headers of a complete episode folder and checks they agree; the return comes
// from the manifest when it knows this episode, else from rewards.npy.
EpisodeInfo inspect_episode(const std::filesystem::path& dir, std::vector<int64_t>& frame_shape,
                            int64_t& action_dim, const std::map<std::string, std::pair<int64_t, double>>& known) {
  const auto frames = core::read_npy_header(dir / "frames.npy");
  const auto actions = core::read_npy_header(dir / "actions.npy");
  const auto rewards = core::read_npy_header(dir / "rewards.npy");
  const auto dones = core::read_npy_header(dir / "dones.npy");
  const int64_t t = frames.shape.empty() ? -1 : frames.shape[0];
  if (frames.shape.size() != 4 || actions.shape.empty() || actions.shape[0] != t || rewards.shape != std::vector<int64_t>{t} ||
      dones.shape != std::vector<int64_t>{t}) {
    throw core::Error(dir.string() + ": the arrays of this episode disagree in length or shape");
  }
  frame_shape.assign(frames.shape.begin() + 1, frames.shape.end());
  action_dim = actions.shape.size() == 2 ? actions.shape[1] : 0;
  const std::string name = dir.filename().string();
  const auto it = known.find(name);
  if (it != known.end() && it->second.first == t) return {name, t, it->second.second};
  return {name, t, core::read_npy(dir / "rewards.npy").sum().item<double>()};
}

}  // namespace

struct EpisodeStore::Mapped {
  explicit Mapped(const std::filesystem::path& dir)
      : frames(dir / "frames.npy"), actions(dir / "actions.npy"), rewards(dir / "rewards.npy"), dones(dir / "dones.npy") {}
  MappedNpy frames, actions, rewards, dones;
};

bool is_episode_store(const std::filesystem::path& path) {
  if (!std::filesystem::is_directory(path)) return false;
  if (std::filesystem::exists(path / "manifest.json")) return true;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("ep_", 0) == 0) return true;
  }
  return false;
}

EpisodeStore::EpisodeStore(std::filesystem::path dir, Mode mode) : dir_(std::move(dir)), mode_(mode) {
  if (mode_ == Mode::kRead && !std::filesystem::is_directory(dir_)) {
    throw core::Error("episode store " + dir_.string() + " does not exist (collect episodes with 'wm collect')");
  }
  core::ensure_directory(dir_);
  if (mode_ == Mode::kRead) {
    scan();
    return;
  }
  const StoreLock lock(dir_);
  // Leftovers of writers that died mid-episode: never visible, now removed. A live writer's
  // folder is its episode in progress and stays.
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && entry.path().extension() == ".tmp" && !writer_alive(name)) {
      spdlog::warn("removing incomplete episode {} left by an interrupted writer", entry.path().string());
      std::filesystem::remove_all(entry.path());
    }
  }
  scan();
  write_manifest();
}

EpisodeStore::~EpisodeStore() = default;

void EpisodeStore::scan() {
  std::vector<EpisodeInfo> episodes;
  const auto known = manifest_returns(dir_);
  for (const auto& [index, path] : episode_folders(dir_)) add_episode_folder(path, known, episodes);
  std::lock_guard<std::mutex> lock(mutex_);
  episodes_ = std::move(episodes);
  mapped_.clear();
  mapped_.resize(episodes_.size());
}

void EpisodeStore::refresh() { scan(); }

int64_t EpisodeStore::total_steps() const {
  int64_t total = 0;
  for (const auto& e : episodes_) total += e.length;
  return total;
}

void EpisodeStore::write_manifest() const {
  nlohmann::ordered_json manifest;
  manifest["format"] = "wm-episodes-1";
  manifest["frame_shape"] = frame_shape_;
  manifest["action_dim"] = action_dim_;
  manifest["total_steps"] = total_steps();
  manifest["episodes"] = nlohmann::ordered_json::array();
  for (const auto& e : episodes_) {
    manifest["episodes"].push_back({{"name", e.name}, {"length", e.length}, {"return", e.total_reward}});
  }
  core::write_file_atomic(dir_ / "manifest.json", manifest.dump(1) + "\n");
}

std::string EpisodeStore::append(const Episode& episode) {
  if (mode_ != Mode::kAppend) throw core::Error("episode store " + dir_.string() + " was opened read-only");
  std::lock_guard<std::mutex> guard(mutex_);
  episode.validate("an episode for " + dir_.string());
  const std::vector<int64_t> shape(episode.frames.sizes().begin() + 1, episode.frames.sizes().end());
  const int64_t dim = episode.actions.dim() == 2 ? episode.actions.size(1) : 0;
  auto check_fits = [&] {
    if (!frame_shape_.empty() && (shape != frame_shape_ || dim != action_dim_)) {
      throw core::Error("an episode does not fit " + dir_.string() + ": frames " + c10::str(shape) + " and action_dim " + std::to_string(dim) +
                        " against the store's " + c10::str(frame_shape_) + " and " + std::to_string(action_dim_));
    }
  };
  check_fits();

  // The arrays into this writer's own folder, without the lock: other writers go on meanwhile.
  // Numbered per process, so two store objects of one process (threads) never share one.
  static std::atomic<int64_t> temporary_count{0};
  const std::filesystem::path tmp = dir_ / (".writing." + std::to_string(::getpid()) + "." + std::to_string(temporary_count++) + ".tmp");
  std::filesystem::remove_all(tmp);
  core::ensure_directory(tmp);
  core::write_npy(tmp / "frames.npy", episode.frames);
  core::write_npy(tmp / "actions.npy", episode.actions);
  core::write_npy(tmp / "rewards.npy", episode.rewards);
  core::write_npy(tmp / "dones.npy", episode.dones);
  core::fsync_directory(tmp);

  // Then, one writer at a time: the next free number, the rename, the manifest.
  const StoreLock lock(dir_);
  try {
    pick_up_new_episodes();
    check_fits();  // another writer's first episode may have fixed the store's shape
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(tmp, ignored);  // refused: this writer's arrays go too
    throw;
  }
  const auto folders = episode_folders(dir_);
  const std::string name = episode_name(folders.empty() ? 0 : folders.back().first + 1);
  const std::filesystem::path final_dir = dir_ / name;
  std::error_code ec;
  std::filesystem::rename(tmp, final_dir, ec);
  if (ec) {
    std::filesystem::remove_all(tmp, ec);
    throw core::Error("cannot rename the episode into " + final_dir.string() + ": " + ec.message());
  }
  core::fsync_directory(dir_);
  frame_shape_ = shape;
  action_dim_ = dim;
  episodes_.push_back({name, episode.length(), episode.rewards.sum().item<double>()});
  mapped_.resize(episodes_.size());
  write_manifest();
  return name;
}

void EpisodeStore::add_episode_folder(const std::filesystem::path& path, const std::map<std::string, std::pair<int64_t, double>>& known,
                                      std::vector<EpisodeInfo>& into) {
  std::vector<int64_t> shape;
  int64_t dim = 0;
  EpisodeInfo info;
  try {
    info = inspect_episode(path, shape, dim, known);
  } catch (const core::Error& e) {
    spdlog::warn("skipping damaged episode: {}", e.what());
    return;
  }
  // Checked before it joins the list: a refused episode must not stay listed without its
  // mapping (found in review).
  if (!frame_shape_.empty() && (shape != frame_shape_ || dim != action_dim_)) {
    throw core::Error(path.string() + ": frame shape or action kind differs from the store's other episodes");
  }
  frame_shape_ = shape;
  action_dim_ = dim;
  into.push_back(std::move(info));
}

void EpisodeStore::pick_up_new_episodes() {
  int64_t last = -1;
  if (!episodes_.empty()) {
    std::smatch match;
    std::regex_match(episodes_.back().name, match, kEpisodeName);
    last = std::stoll(match[1].str());
  }
  for (const auto& [index, path] : episode_folders(dir_, last)) add_episode_folder(path, {}, episodes_);
  mapped_.resize(episodes_.size());
}

Episode EpisodeStore::load(int64_t episode) const {
  const auto dir = dir_ / episodes_.at(episode).name;
  Episode e{core::read_npy(dir / "frames.npy"), core::read_npy(dir / "actions.npy"),
            core::read_npy(dir / "rewards.npy"), core::read_npy(dir / "dones.npy")};
  e.validate(dir.string());
  return e;
}

const EpisodeStore::Mapped& EpisodeStore::mapped(int64_t episode) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = mapped_.at(episode);
  if (!slot) slot = std::make_unique<Mapped>(dir_ / episodes_.at(episode).name);
  return *slot;
}

int64_t EpisodeStore::discrete_action_count() const {
  if (action_dim_ != 0) return 0;
  int64_t count = 0;
  for (int64_t e = 0; e < num_episodes(); ++e) {
    const at::Tensor& actions = mapped(e).actions.tensor();
    if (actions.numel() > 0) count = std::max<int64_t>(count, actions.max().item<int64_t>() + 1);
  }
  return count;
}

void EpisodeStore::read_steps(int64_t episode, int64_t start, int64_t count, WindowBatch& batch, int64_t row,
                              int64_t offset) const {
  const Mapped& m = mapped(episode);
  batch.observations[row].narrow(0, offset, count).copy_(m.frames.tensor().narrow(0, start, count));
  batch.actions[row].narrow(0, offset, count).copy_(m.actions.tensor().narrow(0, start, count));
  batch.rewards[row].narrow(0, offset, count).copy_(m.rewards.tensor().narrow(0, start, count));
  batch.dones[row].narrow(0, offset, count).copy_(m.dones.tensor().narrow(0, start, count));
}

}  // namespace wm::dataloader
