#include "tokenizer/tokenizer_checkpoint.h"

#include "core/checkpoint_options.h"
#include "core/error.h"

namespace wm::tokenizer {

void add_tokenizer(core::CheckpointWriter& writer, VQModel& model) {
  writer.add_module(kTokenizerModule, *model);
  core::set_options_text(writer, "tokenizer_options", model->options());
}

TokenizerOptions tokenizer_options_of(const core::Checkpoint& checkpoint) {
  const std::string yaml = checkpoint.text("tokenizer_options");
  if (yaml.empty() || !checkpoint.has_module(kTokenizerModule)) {
    throw core::Error("checkpoint " + checkpoint.path().string() + " holds no tokenizer (is it a dynamics or policy checkpoint?)");
  }
  return core::options_from_text<TokenizerOptions>(checkpoint, "tokenizer_options");
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
