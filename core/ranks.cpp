#include "core/ranks.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "core/seed_mix.h"

namespace wm::core {

namespace {

// FNV-1a of the names, cut to 52 bits so that it travels exactly in a double.
double names_hash(const Scalars& scalars) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& [name, value] : scalars) {
    for (const char c : name + '\n') h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  return static_cast<double>(h & ((uint64_t{1} << 52) - 1));
}

bool is_rate(const std::string& name) { return name.size() >= 6 && name.compare(name.size() - 6, 6, "_per_s") == 0; }

// Every rank's (a, b) pair: slot r of a [world, 2] sum holds rank r's.
at::Tensor per_rank_pairs(Ranks& ranks, double a, double b) {
  at::Tensor t = at::zeros({ranks.world_size(), 2}, at::kDouble);
  t[ranks.rank()][0] = a;
  t[ranks.rank()][1] = b;
  ranks.sum(t);
  return t;
}

}  // namespace

at::Tensor gather_rows(Ranks& ranks, const at::Tensor& rows) {
  if (ranks.world_size() == 1) return rows;
  const int64_t shape_hash = static_cast<int64_t>(std::hash<std::string>{}(c10::str(rows.sizes())) & ((uint64_t{1} << 52) - 1));
  const at::Tensor shapes = per_rank_pairs(ranks, static_cast<double>(rows.numel()), static_cast<double>(shape_hash));
  for (int r = 1; r < ranks.world_size(); ++r) {
    if (!at::equal(shapes[r], shapes[0])) {
      throw Error("gathering rows across ranks: rank " + std::to_string(r) + " has " + std::to_string(shapes[r][0].item<int64_t>()) +
                  " values where rank 0 has " + std::to_string(shapes[0][0].item<int64_t>()) + " (every rank must pass the same shape)");
    }
  }
  at::Tensor all = at::zeros({ranks.world_size(), rows.numel()}, rows.options());
  all[ranks.rank()].copy_(rows.reshape({-1}));
  ranks.sum(all);
  std::vector<int64_t> shape = rows.sizes().vec();
  shape[0] *= ranks.world_size();
  return all.reshape(shape);
}

void broadcast_module(Ranks& ranks, const torch::nn::Module& module) {
  if (ranks.world_size() == 1) return;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> state = module.parameters();
  for (const auto& buffer : module.buffers()) state.push_back(buffer);
  ranks.broadcast_from_rank0(std::move(state));
}

void diverge_random_stream(const Ranks& ranks, uint64_t seed, uint64_t salt) {
  if (ranks.rank() == 0) return;
  at::manual_seed(seed_for(seed_for(seed, static_cast<uint64_t>(ranks.rank())), salt));
}

Scalars combine_figures(Ranks& ranks, const Scalars& scalars) {
  const int world = ranks.world_size();
  if (world == 1) return scalars;
  const at::Tensor layouts = per_rank_pairs(ranks, static_cast<double>(scalars.size()), names_hash(scalars));
  bool same_names = true;
  for (int r = 1; r < world; ++r) same_names = same_names && at::equal(layouts[r], layouts[0]);

  // The names every rank reports, and for each rank which of them it has.
  std::vector<std::string> names;
  if (same_names) {
    for (const auto& [name, value] : scalars) names.push_back(name);
  } else {
    std::string mine;
    for (const auto& [name, value] : scalars) mine += name + '\n';
    for (const std::string& text : ranks.all_gather_text("figure_names", mine)) {
      std::istringstream lines(text);
      for (std::string name; std::getline(lines, name);) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      }
    }
  }
  // [2, N]: the values, and how many ranks reported each.
  const auto n = static_cast<int64_t>(names.size());
  at::Tensor totals = at::zeros({2, n}, at::kDouble);
  for (const auto& [name, value] : scalars) {
    const auto i = std::find(names.begin(), names.end(), name) - names.begin();
    totals[0][i] = value;
    totals[1][i] = 1.0;
  }
  ranks.sum(totals);
  Scalars combined;
  for (int64_t i = 0; i < n; ++i) {
    const double sum = totals[0][i].item<double>(), reporting = totals[1][i].item<double>();
    combined.emplace_back(names[static_cast<size_t>(i)], is_rate(names[static_cast<size_t>(i)]) ? sum : sum / reporting);
  }
  return combined;
}

}  // namespace wm::core
