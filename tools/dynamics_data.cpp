#include "tools/dynamics_data.h"

#include <torch/torch.h>

#include "core/error.h"
#include "dataloader/token_shard_source.h"
#include "dataloader/token_shards.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/checkpoint_paths.h"
#include "tools/tokenized_source.h"

namespace wm::tools {

namespace {

// The action space the data fixes.
void fit_actions(dynamics::DynamicsOptions& o, const dataloader::WindowSource& source) {
  if (source.action_dim() > 0) {
    o.action_dim = source.action_dim();
    o.num_actions = 0;
    return;
  }
  o.action_dim = 0;
  const int64_t used = source.discrete_action_count();
  if (o.num_actions == 0) o.num_actions = used;
  if (o.num_actions == 0) throw core::Error("the data has discrete actions but does not say how many: set dynamics.num_actions");
  if (used > o.num_actions) {
    throw core::Error("the data uses " + std::to_string(used) + " discrete actions but dynamics.num_actions is " + std::to_string(o.num_actions));
  }
}

constexpr uint64_t kHoldoutSeed = 1234567;  // fixed: the held-out windows never depend on the run's seed

// Without data.path: the run's token dump, or its episodes when a tokenizer is named to
// tokenize them on the fly (found in review: run/tokens was opened as frames).
std::filesystem::path default_data_path(const WmConfig& config, const std::filesystem::path& run_root) {
  if (!config.data.path.empty()) return config.data.path;
  if (!dataloader::is_token_dump(run_root / "tokens") && !config.dynamics_train.tokenizer.empty()) return run_root / "episodes";
  return run_root / "tokens";
}

}  // namespace

DynamicsData::DynamicsData(WmConfig& config, const std::filesystem::path& run_root, c10::Device device)
    : path_(default_data_path(config, run_root)),
      window_(config.dynamics.context_steps),
      seed_(static_cast<uint64_t>(config.run.seed)) {
  open(config, device, /*tokenize_once=*/false);
}

DynamicsData::DynamicsData(WmConfig& config, const std::filesystem::path& run_root, tokenizer::VQModel tokenizer)
    : path_(config.data.path.empty() ? run_root / "episodes" : std::filesystem::path(config.data.path)),
      window_(config.dynamics.context_steps),
      seed_(static_cast<uint64_t>(config.run.seed)),
      tokenizer_(std::move(tokenizer)) {
  open(config, c10::Device(c10::kCPU), /*tokenize_once=*/true);
}

void DynamicsData::open(WmConfig& config, c10::Device device, bool tokenize_once) {
  std::shared_ptr<dataloader::WindowSource> source;
  dynamics::DynamicsOptions& o = config.dynamics;
  if (dataloader::is_token_dump(path_)) {
    auto shards = std::make_shared<dataloader::TokenShardSource>(path_);
    const auto& t = shards->manifest().tokenizer;
    o.tokens_per_frame = t.grid_height * t.grid_width;
    o.grid_height = t.grid_height;
    o.grid_width = t.grid_width;
    o.vocab_size = t.vocab_size;
    shards_tokenizer_hash_ = t.hash;
    source = shards;
  } else {
    if (!tokenizer_) {
      const std::string& tokenizer = config.dynamics_train.tokenizer;
      if (tokenizer.empty()) {
        throw core::Error(path_.string() + " holds frames, not token shards: set dynamics_train.tokenizer to a tokenizer checkpoint, "
                          "or tokenize it first with 'wm tokens dump'");
      }
      tokenizer_ = tokenizer::load_tokenizer(resolve_checkpoint(tokenizer, "tokenizer"), device).model;
    }
    source = dataloader::open_source(path_, config.dataset.video);
    if (tokenize_once) source = std::make_shared<TokenizedSource>(source, tokenizer_);
    o.tokens_per_frame = tokenizer_->options().tokens_per_frame();
    o.grid_height = tokenizer_->options().grid_height();
    o.grid_width = tokenizer_->options().grid_width();
    o.vocab_size = tokenizer_->options().vocab_size;
  }
  fit_actions(o, *source);
  vocab_size_ = o.vocab_size;
  using Split = dataloader::SplitSource;
  train_part_ = std::make_shared<Split>(source, config.data, Split::Part::kTrain);
  holdout_part_ = std::make_shared<Split>(source, config.data, Split::Part::kHoldout);
}

dataloader::WindowSamplerOptions DynamicsData::sampling(int64_t batch, int64_t window) const {
  dataloader::WindowSamplerOptions options;
  options.window = window > 0 ? window : window_;
  options.batch = batch;
  options.seed = seed_;
  return options;
}

dynamics::DynamicsBatch DynamicsData::to_batch(const dataloader::WindowBatch& w) const {
  const int64_t B = w.observations.size(0), L = w.observations.size(1);
  torch::Tensor tokens;
  if (w.observations.scalar_type() == torch::kShort) {
    tokens = w.observations.reshape({B, L, -1}).to(torch::kInt64);  // [B, L, h, w] -> [B, L, K]
  } else {
    const auto& s = w.observations.sizes();
    // encode() runs in inference mode; its tokens are copied out so autograd may save them.
    tokens = tokenizer_->encode(w.observations.reshape({B * L, s[2], s[3], s[4]})).reshape({B, L, -1}).to(torch::kCPU, torch::kInt64).clone();
  }
  return {tokens, w.actions, w.rewards, w.dones, w.mask};
}

std::vector<dynamics::DynamicsBatch> DynamicsData::holdout_batches(int64_t count, int64_t batch, int64_t window) const {
  std::vector<dynamics::DynamicsBatch> batches;
  if (holdout_part_->num_episodes() == 0) return batches;
  dataloader::WindowSamplerOptions options = sampling(batch, window);
  options.seed = kHoldoutSeed;
  dataloader::WindowSampler sampler(holdout_part_, options);
  for (int64_t i = 0; i < count; ++i) batches.push_back(to_batch(sampler.sample()));
  return batches;
}

dynamics::TokenBaselineFit DynamicsData::fit_baselines(int64_t batches, int64_t batch) const {
  dynamics::TokenBaselineFit fit(vocab_size_);
  dataloader::WindowSamplerOptions options = sampling(batch);
  options.seed = kHoldoutSeed;
  dataloader::WindowSampler sampler(train_part_, options);
  for (int64_t i = 0; i < batches; ++i) fit.add_training(to_batch(sampler.sample()));
  return fit;
}

}  // namespace wm::tools
