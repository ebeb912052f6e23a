#include "tokenizer/tokenizer_checkpoint.h"

#include "core/config.h"
#include "core/error.h"

namespace wm::tokenizer {

void add_tokenizer(core::CheckpointWriter& writer, VQModel& model) {
  TokenizerOptions options = model->options();
  core::ConfigSchema schema;
  describe(schema, options);
  writer.add_module(kTokenizerModule, *model);
  writer.set_text("tokenizer_options", core::config_to_yaml(schema));
}

TokenizerOptions tokenizer_options_of(const core::Checkpoint& checkpoint) {
  const std::string yaml = checkpoint.text("tokenizer_options");
  if (yaml.empty() || !checkpoint.has_module(kTokenizerModule)) {
    throw core::Error("checkpoint " + checkpoint.path().string() + " holds no tokenizer (is it a dynamics or policy checkpoint?)");
  }
  TokenizerOptions options;
  core::ConfigSchema schema;
  describe(schema, options);
  core::load_config_text(yaml, "checkpoint " + checkpoint.path().string(), schema);
  return options;
}

LoadedTokenizer load_tokenizer(const std::filesystem::path& path, c10::Device device) {
  const core::Checkpoint checkpoint = core::Checkpoint::load(path);
  LoadedTokenizer loaded;
  loaded.model = VQModel(tokenizer_options_of(checkpoint));
  checkpoint.restore_module(kTokenizerModule, *loaded.model);
  loaded.model->to(device);
  loaded.model->eval();
  loaded.content_hash = checkpoint.content_hash();
  return loaded;
}

}  // namespace wm::tokenizer
