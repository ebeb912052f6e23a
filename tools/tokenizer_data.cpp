#include "tools/tokenizer_data.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "dataloader/mixed_source.h"

namespace wm::tools {

namespace {

constexpr uint64_t kHoldoutSeed = 1234567;  // the same held-out frames at every evaluation, whatever the run's seed

std::shared_ptr<dataloader::WindowSource> open_frames(const std::filesystem::path& path, const WmConfig& config) {
  auto source = dataloader::open_source(path, config.dataset.video);
  const auto shape = source->observation_shape();
  if (source->observation_dtype() != at::kByte || shape.size() != 3 || shape[0] != config.tokenizer.height || shape[1] != config.tokenizer.width) {
    std::string shape_text;
    for (int64_t d : shape) shape_text += (shape_text.empty() ? "" : "x") + std::to_string(d);
    throw core::Error("frames of " + path.string() + " are " + shape_text + " but tokenizer.height/width say " +
                      std::to_string(config.tokenizer.height) + "x" + std::to_string(config.tokenizer.width) +
                      " (set those, or dataset.height/width for videos)");
  }
  return source;
}

// The sources' names in logs and metric names: their file or folder names ("center.mp4"),
// with the folder above where two share one ("udacity/episodes", "driving/episodes"), and a
// number where that is not enough either.
std::vector<std::string> source_names(const std::vector<std::filesystem::path>& paths) {
  auto last = [](const std::filesystem::path& p, int parts) {
    std::vector<std::string> names;
    for (const auto& part : p.lexically_normal()) {
      if (!part.empty() && part != ".") names.push_back(part.string());
    }
    std::string name;
    for (size_t i = names.size() > static_cast<size_t>(parts) ? names.size() - parts : 0; i < names.size(); ++i) {
      name += (name.empty() ? "" : "/") + names[i];
    }
    return name;
  };
  std::vector<std::string> names;
  for (const auto& p : paths) names.push_back(last(p, 1));
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::count(names.begin(), names.end(), names[i]) > 1) {
      const std::string shared = names[i];
      for (size_t j = 0; j < names.size(); ++j) {
        if (names[j] == shared) names[j] = last(paths[j], 2);
      }
    }
  }
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t j = i + 1; j < names.size(); ++j) {
      if (names[j] == names[i]) names[j] += "_" + std::to_string(j + 1);
    }
  }
  return names;
}

}  // namespace

torch::Tensor frames_of(const dataloader::WindowBatch& batch) { return batch.observations.select(1, 0); }

double mean_frame_psnr_db(const torch::Tensor& frames) {
  const torch::Tensor x = frames.to(torch::kFloat64);
  const double mse = (x - x.mean(0, /*keepdim=*/true)).pow(2).mean().item<double>();
  return 10.0 * std::log10(255.0 * 255.0 / std::max(mse, 1e-10));
}

TokenizerData::TokenizerData(const WmConfig& config, const std::filesystem::path& run_root) : seed_(static_cast<uint64_t>(config.run.seed)) {
  const auto& data = config.data;
  if (!data.paths.empty()) {
    if (!data.path.empty()) throw core::Error("data.path and data.paths are both set: name the sources in data.paths only");
    paths_.assign(data.paths.begin(), data.paths.end());
    if (!data.weights.empty() && data.weights.size() != data.paths.size()) {
      throw core::Error("data.weights has " + std::to_string(data.weights.size()) + " entries for " + std::to_string(data.paths.size()) +
                        " data.paths (one per source, or none: each by its size)");
    }
    weights_ = data.weights.empty() ? std::vector<double>(paths_.size(), 0.0) : data.weights;
  } else {
    if (!data.weights.empty()) throw core::Error("data.weights needs data.paths (several sources)");
    paths_ = {data.path.empty() ? run_root / "episodes" : std::filesystem::path(data.path)};
    weights_ = {0.0};
  }

  using Split = dataloader::SplitSource;
  std::vector<dataloader::MixedSource::Part> train_parts;
  std::vector<torch::Tensor> all_frames;
  dataloader::WindowSamplerOptions eval_sampling = sampling(config.tokenizer_train.eval_frames);
  eval_sampling.seed = kHoldoutSeed;
  const std::vector<std::string> names = source_names(paths_);
  for (size_t i = 0; i < paths_.size(); ++i) {
    auto source = open_frames(paths_[i], config);
    std::shared_ptr<Split> train, holdout;
    try {
      train = std::make_shared<Split>(source, data, Split::Part::kTrain);
      holdout = std::make_shared<Split>(source, data, Split::Part::kHoldout);
    } catch (const core::Error& e) {
      throw core::Error(paths_[i].string() + ": " + e.what());
    }
    const std::string name = paths_.size() > 1 ? names[i] : "";
    train_parts.push_back({name.empty() ? paths_[i].string() : name, train, weights_[i]});
    holdout_episodes_ += holdout->num_episodes();
    if (holdout->num_episodes() == 0) continue;
    const torch::Tensor frames = frames_of(dataloader::WindowSampler(holdout, eval_sampling).sample());
    all_frames.push_back(frames);
    if (paths_.size() > 1) per_source_.push_back({name, frames, mean_frame_psnr_db(frames)});
  }
  if (paths_.size() == 1) {
    train_part_ = train_parts.front().source;
  } else {
    train_part_ = std::make_shared<dataloader::MixedSource>(std::move(train_parts));
  }
  if (!all_frames.empty()) {
    all_holdout_frames_ = torch::cat(all_frames);
    all_mean_frame_psnr_db_ = mean_frame_psnr_db(all_holdout_frames_);
  }
}

std::string TokenizerData::describe_sources() const {
  if (paths_.size() == 1) return paths_.front().string();
  std::string text;
  for (size_t i = 0; i < paths_.size(); ++i) {
    text += (text.empty() ? "" : ", ") + paths_[i].string() + (weights_[i] > 0 ? fmt::format(" (weight {:g})", weights_[i]) : "");
  }
  return text;
}

dataloader::WindowSamplerOptions TokenizerData::sampling(int64_t batch) const {
  dataloader::WindowSamplerOptions options;
  options.window = 1;
  options.batch = batch;
  options.seed = seed_;
  return options;
}

core::Scalars evaluate_tokenizer(tokenizer::TokenizerTrainer& trainer, const TokenizerData& data, std::string* line) {
  if (!data.holdout_frames().defined()) return {};
  const auto [psnr, usage] = trainer.evaluate(data.holdout_frames());
  core::Scalars scalars = {{"tokenizer/holdout_psnr_db", psnr},
                           {"tokenizer/holdout_code_usage", usage},
                           {"tokenizer/holdout_mean_frame_psnr_db", data.holdout_mean_frame_psnr_db()}};
  std::string text = fmt::format("held-out PSNR {:.2f} dB (mean frame {:.2f} dB), codes used {:.1f}%", psnr, data.holdout_mean_frame_psnr_db(),
                                 100 * usage);
  for (const HeldOutFrames& source : data.holdout_per_source()) {
    const double source_psnr = trainer.evaluate(source.frames).first;
    scalars.emplace_back("tokenizer/holdout_psnr_db/" + source.name, source_psnr);
    scalars.emplace_back("tokenizer/holdout_mean_frame_psnr_db/" + source.name, source.mean_frame_psnr_db);
    text += fmt::format("; {} {:.2f} dB (mean frame {:.2f} dB)", source.name, source_psnr, source.mean_frame_psnr_db);
  }
  if (line != nullptr) *line = text;
  return scalars;
}

}  // namespace wm::tools
