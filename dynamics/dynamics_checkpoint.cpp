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

LoadedDynamics load_dynamics(const std::filesystem::path& path, c10::Device device, const DynamicsOptions* expected) {
  const core::Checkpoint checkpoint = core::Checkpoint::load(path);
  const DynamicsOptions options = dynamics_options_of(checkpoint);
  if (expected != nullptr) {
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
