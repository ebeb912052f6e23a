#include "tools/tokenized_source.h"

#include <torch/torch.h>

#include "core/error.h"

namespace wm::tools {

namespace {

// Frames per encoder call: small batches keep the activations in cache (BENCHMARKS.md, the
// token dump: 868 frames/s at 16 against 588 at 32 on the 2-core VM).
constexpr int64_t kEncodeBatch = 16;

}  // namespace

TokenizedSource::TokenizedSource(const std::shared_ptr<const dataloader::WindowSource>& frames, tokenizer::VQModel tokenizer)
    : action_dim_(frames->action_dim()), discrete_action_count_(frames->discrete_action_count()) {
  const std::vector<int64_t> shape = frames->observation_shape();
  if (frames->observation_dtype() != torch::kUInt8 || shape.size() != 3 || shape[2] != 3) {
    throw core::Error("tokenized source: the observations are not uint8 [H, W, 3] frames");
  }
  tokenizer->eval();
  for (int64_t e = 0; e < frames->num_episodes(); ++e) {
    const int64_t T = frames->episode_length(e);
    dataloader::WindowBatch raw;
    raw.observations = torch::empty({1, T, shape[0], shape[1], shape[2]}, torch::kUInt8);
    raw.actions = action_dim_ == 0 ? torch::empty({1, T}, torch::kInt64) : torch::empty({1, T, action_dim_}, torch::kFloat32);
    raw.rewards = torch::empty({1, T}, torch::kFloat32);
    raw.dones = torch::empty({1, T}, torch::kUInt8);
    raw.mask = torch::ones({1, T}, torch::kBool);
    frames->read_steps(e, 0, T, raw, 0, 0);

    std::vector<torch::Tensor> grids;  // int64 [n, h, w] each
    const torch::Tensor steps = raw.observations[0];
    for (int64_t t = 0; t < T; t += kEncodeBatch) {
      grids.push_back(tokenizer->encode(steps.narrow(0, t, std::min(kEncodeBatch, T - t))).to(torch::kCPU));
    }
    raw.observations = torch::cat(grids).to(torch::kShort).unsqueeze(0);  // [1, T, h, w]
    if (grid_.empty()) grid_ = {raw.observations.size(2), raw.observations.size(3)};
    episodes_.push_back(std::move(raw));
  }
  if (grid_.empty()) {  // no episodes: the grid from one blank frame, so the shape is known
    const torch::Tensor grid = tokenizer->encode(torch::zeros({1, shape[0], shape[1], shape[2]}, torch::kUInt8));
    grid_ = {grid.size(1), grid.size(2)};
  }
}

int64_t TokenizedSource::episode_length(int64_t episode) const { return episodes_.at(static_cast<size_t>(episode)).rewards.size(1); }

at::ScalarType TokenizedSource::observation_dtype() const { return torch::kShort; }

void TokenizedSource::read_steps(int64_t episode, int64_t start, int64_t count, dataloader::WindowBatch& batch, int64_t row,
                                 int64_t offset) const {
  const dataloader::WindowBatch& e = episodes_.at(static_cast<size_t>(episode));
  batch.observations[row].narrow(0, offset, count).copy_(e.observations[0].narrow(0, start, count));
  batch.actions[row].narrow(0, offset, count).copy_(e.actions[0].narrow(0, start, count));
  batch.rewards[row].narrow(0, offset, count).copy_(e.rewards[0].narrow(0, start, count));
  batch.dones[row].narrow(0, offset, count).copy_(e.dones[0].narrow(0, start, count));
}

}  // namespace wm::tools
