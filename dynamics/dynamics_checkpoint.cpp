#include "dynamics/dynamics_checkpoint.h"

#include "core/checkpoint_options.h"
#include "core/error.h"

namespace wm::dynamics {

void add_dynamics(core::CheckpointWriter& writer, WorldModel& model) {
  writer.add_module(kDynamicsModule, *model);
  core::set_options_text(writer, "dynamics_options", model->options());
}

DynamicsOptions dynamics_options_of(const core::Checkpoint& checkpoint) {
  const std::string yaml = checkpoint.text("dynamics_options");
  if (yaml.empty() || !checkpoint.has_module(kDynamicsModule)) {
    throw core::Error("checkpoint " + checkpoint.path().string() + " holds no dynamics model (is it a tokenizer or policy checkpoint?)");
  }
  return core::options_from_text<DynamicsOptions>(checkpoint, "dynamics_options");
}

void check_grid(const std::filesystem::path& checkpoint, const DynamicsOptions& stored, const DynamicsOptions& data) {
  if (!stored.reads_previous_frame() || stored.grid_text() == "unknown" || data.grid_text() == "unknown") return;
  if (stored.grid_height != data.grid_height || stored.grid_width != data.grid_width) {
    throw core::Error("checkpoint " + checkpoint.string() + " reads the previous frame place by place (the copy path) on " + stored.grid_text() +
                      " token grids, but the data's grid is " + data.grid_text() + " (train a model for this data)");
  }
}

LoadedDynamics load_dynamics(const std::filesystem::path& path, c10::Device device, const DynamicsOptions* expected) {
  const core::Checkpoint checkpoint = core::Checkpoint::load(path);
  const DynamicsOptions options = dynamics_options_of(checkpoint);
  if (expected != nullptr) {
    check_grid(path, options, *expected);
    auto check = [&](const char* key, int64_t stored, int64_t wanted) {
      if (stored != wanted) {
        throw core::Error("checkpoint " + path.string() + " has dynamics." + key + " = " + std::to_string(stored) + ", the config says " +
                          std::to_string(wanted));
      }
    };
    check("tokens_per_frame", options.tokens_per_frame, expected->tokens_per_frame);
    check("vocab_size", options.vocab_size, expected->vocab_size);
    check("num_actions", options.num_actions, expected->num_actions);
    check("action_dim", options.action_dim, expected->action_dim);
  }
  LoadedDynamics loaded;
  loaded.model = WorldModel(options);
  checkpoint.restore_module(kDynamicsModule, *loaded.model);
  loaded.model->to(device);
  loaded.model->eval();
  loaded.content_hash = checkpoint.content_hash();
  return loaded;
}

}  // namespace wm::dynamics
