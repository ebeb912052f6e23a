#include "tools/precision_bench.h"

#include <torch/torch.h>

#include <optional>

#include "core/build_info.h"
#include "core/error.h"
#include "dataloader/token_shards.h"
#include "dynamics/dream_precision.h"
#include "dynamics/dynamics_checkpoint.h"
#include "tokenizer/tokenizer_checkpoint.h"
#include "tools/checkpoint_paths.h"
#include "tools/dynamics_data.h"
#include "tools/wm_config.h"

namespace wm::tools {

std::vector<bench::BenchRecord> run_precision_bench(const std::filesystem::path& run_dir, int64_t batches, int64_t batch) {
  const std::filesystem::path config_file = run_dir / "config.yaml";
  if (!std::filesystem::is_regular_file(config_file)) {
    throw core::Error(run_dir.string() + " is not a run folder: it has no config.yaml");
  }
  const c10::Device cpu(c10::kCPU);
  core::check_precision_supported(cpu, core::Precision::kBf16, "wm bench precision");
  const std::filesystem::path checkpoint = resolve_checkpoint(run_dir.string(), "dynamics");
  WmConfig config = load_wm_config(config_file, {}).config;
  // Token shards as they are; frames (a run of wm train all) through the run's tokenizer, or
  // the one dynamics_train.tokenizer names.
  std::optional<DynamicsData> opened;
  const std::filesystem::path data_path = config.data.path.empty() ? run_dir / "tokens" : std::filesystem::path(config.data.path);
  if (dataloader::is_token_dump(data_path) || !config.dynamics_train.tokenizer.empty()) {
    opened.emplace(config, run_dir, cpu);
  } else {
    opened.emplace(config, run_dir, tokenizer::load_tokenizer(resolve_checkpoint(run_dir.string(), "tokenizer"), cpu).model);
  }
  const DynamicsData& data = *opened;
  const dynamics::WorldModel model = dynamics::load_dynamics(checkpoint, cpu, &config.dynamics).model;
  // Windows of the model's own context (the config may say another).
  const std::vector<dynamics::DynamicsBatch> holdout = data.holdout_batches(batches, batch, model->options().context_steps);
  if (holdout.empty()) throw core::Error(data.path().string() + ": no episode is held out (data.holdout_fraction), nothing to compare on");

  const dynamics::PrecisionAgreement a = dynamics::compare_dream_precision(model, holdout);
  const auto& o = model->options();
  nlohmann::ordered_json context = {{"device", "cpu"},
                                    {"run", run_dir.string()},
                                    {"checkpoint", checkpoint.filename().string()},
                                    {"decoding", o.decoding == dynamics::Decoding::kParallel ? "parallel" : "ar"},
                                    {"layers", o.layers},
                                    {"width", o.width},
                                    {"windows", batches * batch},
                                    {"rows", a.rows},
                                    {"cpu", core::build_info().cpu_capability}};
  bench::BenchRecord agreement{.bench = "precision", .metric = "bf16_top1_agreement", .value = a.top1_agreement, .context = context};
  bench::BenchRecord kl{.bench = "precision", .metric = "bf16_kl_nats_per_token", .value = a.kl_nats, .context = context};
  return {agreement, kl};
}

}  // namespace wm::tools
